"""Per-tenant request and token limits over fixed one-minute windows.

``admit`` counts a request, or refuses it (``TenantRateLimited`` with
Retry-After = the rest of the window) when the tenant already made
``requests_per_minute`` requests or used ``tokens_per_minute`` tokens in this
window; ``add_tokens`` records a finished call's usage. The in-memory limiter
counts per router replica; the Redis one is shared by all replicas (keys
``mas:{tenant_id}:llm:...``). Both follow the same contract (one test suite).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as redis

from llm.catalog import TenantLimits
from llm.errors import TenantRateLimited

WINDOW_S = 60


class TenantLimiter(Protocol):
    async def admit(self, tenant_id: str, limits: TenantLimits) -> None: ...

    async def add_tokens(self, tenant_id: str, tokens: int) -> None: ...

    async def close(self) -> None: ...


def _window(now: float) -> tuple[int, float]:
    """The current window's number and the seconds left in it."""
    number = int(now // WINDOW_S)
    return number, (number + 1) * WINDOW_S - now


def _refuse(tenant_id: str, limit: str, value: int, retry_after: float) -> TenantRateLimited:
    return TenantRateLimited(
        f"tenant {tenant_id} reached its LLM limit of {value} {limit.replace('_', ' ')}",
        details={"tenant_id": tenant_id, "limit": limit, "value": value},
        retry_after=retry_after,
    )


@dataclass
class _Counts:
    window: int
    requests: int = 0
    tokens: int = 0


class InMemoryTenantLimiter:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[str, _Counts] = {}

    def _current(self, tenant_id: str) -> tuple[_Counts, float]:
        window, retry_after = _window(self._clock())
        counts = self._counts.get(tenant_id)
        if counts is None or counts.window != window:
            counts = self._counts[tenant_id] = _Counts(window)
        return counts, retry_after

    async def admit(self, tenant_id: str, limits: TenantLimits) -> None:
        counts, retry_after = self._current(tenant_id)
        if limits.tokens_per_minute and counts.tokens >= limits.tokens_per_minute:
            raise _refuse(tenant_id, "tokens_per_minute", limits.tokens_per_minute, retry_after)
        if limits.requests_per_minute and counts.requests >= limits.requests_per_minute:
            raise _refuse(tenant_id, "requests_per_minute", limits.requests_per_minute, retry_after)
        counts.requests += 1

    async def add_tokens(self, tenant_id: str, tokens: int) -> None:
        self._current(tenant_id)[0].tokens += tokens

    async def close(self) -> None:
        pass


# Atomic check-and-count: returns 0 when admitted, 1 when over requests, 2 when over tokens (0 limits = unlimited).
_ADMIT = """
local tpm = tonumber(ARGV[2])
if tpm > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= tpm then return 2 end
local rpm = tonumber(ARGV[1])
if rpm > 0 and tonumber(redis.call('GET', KEYS[1]) or '0') >= rpm then return 1 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 0
"""


class RedisTenantLimiter:
    def __init__(self, client: redis.Redis, *, prefix: str = "mas", clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock
        self._admit = client.register_script(_ADMIT)

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> RedisTenantLimiter:
        return cls(redis.from_url(url), **kwargs)  # type: ignore[arg-type]

    def _keys(self, tenant_id: str, window: int) -> list[str]:
        return [f"{self._prefix}:{tenant_id}:llm:{counter}:{window}" for counter in ("requests", "tokens")]

    async def admit(self, tenant_id: str, limits: TenantLimits) -> None:
        window, retry_after = _window(self._clock())
        rpm, tpm = limits.requests_per_minute or 0, limits.tokens_per_minute or 0
        verdict = await self._admit(keys=self._keys(tenant_id, window), args=[rpm, tpm, 2 * WINDOW_S])
        if verdict == 1:
            raise _refuse(tenant_id, "requests_per_minute", rpm, retry_after)
        if verdict == 2:
            raise _refuse(tenant_id, "tokens_per_minute", tpm, retry_after)

    async def add_tokens(self, tenant_id: str, tokens: int) -> None:
        key = self._keys(tenant_id, _window(self._clock())[0])[1]
        async with self._client.pipeline(transaction=True) as pipe:
            await pipe.incrby(key, tokens).expire(key, 2 * WINDOW_S).execute()

    async def close(self) -> None:
        await self._client.aclose()
