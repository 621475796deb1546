"""The ``offline`` provider: an answer with no model and no network, so the router always has a last fallback.

It knows nothing of what the conversation is about: it acknowledges the last user message and says that an
answer will follow (a structured request gets the smallest instance of its schema). The router marks what it
answers ``offline``, so a caller that can write something better without a model (the Sales agent's offline
writer, ``agents.offline_reply``) does. It never claims to be a language model.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from llm.providers.base import ProviderChunk, ProviderRequest, ProviderResult, ProviderSpec, collect
from llm.structured import minimal_instance

CHUNK_CHARS = 8  # streamed in small pieces, like a model would
MAX_QUOTE_CHARS = 30


def offline_text(request: ProviderRequest) -> str:
    if request.json_schema is not None:
        return json.dumps(minimal_instance(request.json_schema), ensure_ascii=False)
    last_user = next((message.content for message in reversed(request.messages) if message.role == "user"), "").strip()
    if len(last_user) > MAX_QUOTE_CHARS:
        last_user = last_user[:MAX_QUOTE_CHARS] + "…"
    heard = f"关于「{last_user}」，" if last_user else ""
    return f"您好，感谢您的消息！{heard}我已经记下，稍后会有专人为您详细解答。"


class OfflineProvider:
    def __init__(self, name: str) -> None:
        self.name = name

    async def complete(self, request: ProviderRequest) -> ProviderResult:
        return await collect(self.stream(request))

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderChunk]:
        text = offline_text(request)
        for start in range(0, len(text), CHUNK_CHARS):
            yield ProviderChunk(delta=text[start : start + CHUNK_CHARS])
        yield ProviderChunk(finish_reason="stop")

    async def close(self) -> None:
        pass


def build(spec: ProviderSpec) -> OfflineProvider:
    return OfflineProvider(spec.name)
