"""What agents need from the outside, as protocols: the LLM router (in-process ``llm.router.Router`` or a
Serve handle client with the same methods) and the product catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from llm.types import LLMRequest, LLMResponse, StreamEvent


class LLMClient(Protocol):
    async def complete(self, request: LLMRequest) -> LLMResponse: ...

    def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]: ...
