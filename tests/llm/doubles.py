"""Test doubles for router policy tests: a scripted provider, a fake clock, and a catalog builder."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from llm.catalog import Catalog, parse_catalog
from llm.errors import ProviderError
from llm.limits import InMemoryTenantLimiter
from llm.providers.base import ProviderChunk, ProviderRequest, ProviderResult
from llm.router import Router
from llm.types import ChatMessage, LLMRequest, Usage


@dataclass
class Hang:
    """The call never answers (until the router's timeout cancels it)."""


@dataclass
class FailMidStream:
    """A stream that sends ``text`` and then fails with ``error``."""

    text: str
    error: ProviderError


Outcome = str | ProviderResult | ProviderError | Hang | FailMidStream


class ScriptedProvider:
    """A provider that answers each call with the next scripted outcome (the last one repeats) and records requests."""

    def __init__(self, name: str, *script: Outcome, usage: Usage | None = Usage(input_tokens=100, output_tokens=20)) -> None:
        self.name = name
        self.script = list(script) or ["ok"]
        self.usage = usage
        self.requests: list[ProviderRequest] = []
        self.closed = False

    def _next(self, request: ProviderRequest) -> Outcome:
        self.requests.append(request)
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    async def complete(self, request: ProviderRequest) -> ProviderResult:
        outcome = self._next(request)
        if isinstance(outcome, Hang):
            await asyncio.sleep(3600)
        if isinstance(outcome, ProviderError):
            raise outcome
        if isinstance(outcome, ProviderResult):
            return outcome
        return ProviderResult(content=str(outcome), usage=self.usage, finish_reason="stop")

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderChunk]:
        outcome = self._next(request)
        if isinstance(outcome, Hang):
            await asyncio.sleep(3600)
        if isinstance(outcome, ProviderError):
            raise outcome
        if isinstance(outcome, FailMidStream):
            yield ProviderChunk(delta=outcome.text)
            raise outcome.error
        text = outcome.content if isinstance(outcome, ProviderResult) else str(outcome)
        for start in range(0, len(text), 2):
            yield ProviderChunk(delta=text[start : start + 2])
        yield ProviderChunk(usage=self.usage, finish_reason="stop")

    async def close(self) -> None:
        self.closed = True


class FakeClock:
    """A monotonic clock that only moves when told (or when the router sleeps through ``sleep``)."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def catalog(
    models: list[dict[str, Any]], aliases: list[dict[str, Any]] = (), limits: dict[str, Any] | None = None, **defaults: Any
) -> Catalog:
    """A catalog whose providers are named after the models' providers (types do not matter: providers are injected)."""
    names = sorted({model["provider"] for model in models})
    return parse_catalog(
        {
            "defaults": {"alias": "main", **defaults},
            "limits": limits or {},
            "providers": [{"name": name, "type": "offline"} for name in names],
            "models": [{"context_window": 8000, **model} for model in models],
            "aliases": list(aliases),
        }
    )


def router(catalog: Catalog, *providers: ScriptedProvider, clock: FakeClock | None = None, seed: int = 1) -> Router:
    clock = clock or FakeClock()
    return Router(
        catalog,
        {provider.name: provider for provider in providers},
        limiter=InMemoryTenantLimiter(clock=clock),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(seed),
    )


def ask(text: str = "你好", **fields: Any) -> LLMRequest:
    return LLMRequest(messages=[ChatMessage(role="user", content=text)], **fields)
