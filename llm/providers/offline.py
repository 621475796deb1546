"""The ``offline`` provider: the composer (or a minimal schema instance) with no network; always configured."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from llm.composer import compose_reply
from llm.providers.base import ProviderChunk, ProviderRequest, ProviderResult, ProviderSpec, collect
from llm.structured import minimal_instance

CHUNK_CHARS = 8  # streamed in small pieces, like a model would


def offline_text(request: ProviderRequest) -> str:
    if request.json_schema is not None:
        return json.dumps(minimal_instance(request.json_schema), ensure_ascii=False)
    return compose_reply(request.context, request.messages)


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
