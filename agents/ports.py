"""The LLM router as the agents that call it (sales, sentiment, the summariser) see it: the in-process
``llm.router.Router`` or a Serve handle client with the same methods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from llm.types import LLMRequest, LLMResponse, StreamEvent


class LLMClient(Protocol):
    async def complete(self, request: LLMRequest) -> LLMResponse: ...

    def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]: ...
