"""The ``simulated`` provider, for load tests: a configurable time to first token, token rate and fault mix.

Knobs (``SimulatedConfig``) come from the provider's options, then the
model's options, then ``MAS_SIMULATED_*`` environment overrides. Faults are
drawn from a seeded generator so a load test is reproducible.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm.errors import ProviderRateLimited, ProviderServerError
from llm.providers.base import ProviderChunk, ProviderRequest, ProviderResult, ProviderSpec, collect
from llm.structured import minimal_instance
from llm.tokens import estimate_prompt_tokens, estimate_tokens
from llm.types import Usage

FILLER = "这是一条用于负载测试的模拟回复内容，"  # one estimated token per character
HANG_S = 3600.0  # a simulated timeout hangs until the router's timeout cancels it


class SimulatedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttft_ms: float = Field(default=200.0, ge=0)
    tokens_per_s: float = Field(default=50.0, ge=0, description="0 = no delay between tokens.")
    output_tokens: int = Field(default=64, ge=1, description="Reply length, capped by the request's max_tokens.")
    error_rate: float = Field(default=0.0, ge=0, le=1, description="Share of calls failing with a 500.")
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1, description="Share of calls failing with a 429.")
    timeout_rate: float = Field(default=0.0, ge=0, le=1, description="Share of calls that hang.")
    seed: int = 0


class SimulatedProvider:
    def __init__(self, name: str, defaults: dict[str, Any], overrides: dict[str, Any]) -> None:
        self.name = name
        self._defaults = defaults
        self._overrides = overrides
        self._random = random.Random(SimulatedConfig(**{**defaults, **overrides}).seed)

    def config(self, request: ProviderRequest) -> SimulatedConfig:
        return SimulatedConfig(**{**self._defaults, **request.options, **self._overrides})

    async def complete(self, request: ProviderRequest) -> ProviderResult:
        return await collect(self.stream(request))

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderChunk]:
        config = self.config(request)
        await asyncio.sleep(config.ttft_ms / 1000)
        draw = self._random.random()
        if draw < config.error_rate:
            raise ProviderServerError("simulated server error", status=500)
        if draw < config.error_rate + config.rate_limit_rate:
            raise ProviderRateLimited("simulated rate limit", status=429, retry_after=1.0)
        if draw < config.error_rate + config.rate_limit_rate + config.timeout_rate:
            await asyncio.sleep(HANG_S)
        tokens = _reply_tokens(request, config)
        for index, token in enumerate(tokens):
            if index and config.tokens_per_s:
                await asyncio.sleep(1 / config.tokens_per_s)
            yield ProviderChunk(delta=token)
        usage = Usage(
            input_tokens=estimate_prompt_tokens(request.messages, request.system, request.tools),
            output_tokens=estimate_tokens("".join(tokens)),
        )
        yield ProviderChunk(usage=usage, finish_reason="stop")

    async def close(self) -> None:
        pass


def _reply_tokens(request: ProviderRequest, config: SimulatedConfig) -> list[str]:
    if request.json_schema is not None:
        return [json.dumps(minimal_instance(request.json_schema), ensure_ascii=False)]
    count = min(config.output_tokens, request.max_tokens or config.output_tokens)
    return [FILLER[index % len(FILLER)] for index in range(count)]


def build(spec: ProviderSpec) -> SimulatedProvider:
    return SimulatedProvider(spec.name, spec.options, spec.overrides)
