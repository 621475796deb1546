"""One contract for both tenant limiters (in-memory per replica, Redis shared), driven by a fake clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from llm.catalog import TenantLimits
from llm.errors import TenantRateLimited
from llm.limits import InMemoryTenantLimiter, RedisTenantLimiter, TenantLimiter
from tests.llm.doubles import FakeClock

WINDOW_START = 60_000.0  # a multiple of 60: the start of a window


@pytest.fixture
def tenant() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=WINDOW_START + 20)


@pytest.fixture
async def redis_client(redis_url: str, tenant: str) -> AsyncIterator[redis.Redis]:
    client = redis.from_url(redis_url)
    yield client
    keys = [key async for key in client.scan_iter(f"mas:{tenant}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest, clock: FakeClock) -> TenantLimiter:
    if request.param == "memory":
        return InMemoryTenantLimiter(clock=clock)
    return RedisTenantLimiter(request.getfixturevalue("redis_client"), clock=clock)


async def test_requests_beyond_the_limit_are_refused_until_the_next_window(limiter: TenantLimiter, clock: FakeClock, tenant: str) -> None:
    limits = TenantLimits(requests_per_minute=3)
    for _ in range(3):
        await limiter.admit(tenant, limits)
    with pytest.raises(TenantRateLimited) as raised:
        await limiter.admit(tenant, limits)
    assert raised.value.retry_after == pytest.approx(40)  # 20 s into the window
    assert raised.value.details == {"tenant_id": tenant, "limit": "requests_per_minute", "value": 3}

    clock.advance(40)
    await limiter.admit(tenant, limits)


async def test_refused_requests_do_not_count(limiter: TenantLimiter, clock: FakeClock, tenant: str) -> None:
    limits = TenantLimits(requests_per_minute=1)
    await limiter.admit(tenant, limits)
    for _ in range(3):
        with pytest.raises(TenantRateLimited):
            await limiter.admit(tenant, limits)
    clock.advance(60)
    await limiter.admit(tenant, limits)


async def test_tokens_used_in_the_window_close_it(limiter: TenantLimiter, clock: FakeClock, tenant: str) -> None:
    limits = TenantLimits(tokens_per_minute=1000)
    await limiter.admit(tenant, limits)
    await limiter.add_tokens(tenant, 999)
    await limiter.admit(tenant, limits)  # 999 < 1000: still admitted
    await limiter.add_tokens(tenant, 1)
    with pytest.raises(TenantRateLimited) as raised:
        await limiter.admit(tenant, limits)
    assert raised.value.details["limit"] == "tokens_per_minute"

    clock.advance(40)
    await limiter.admit(tenant, limits)


async def test_tenants_are_counted_apart_and_no_limit_means_unlimited(limiter: TenantLimiter, tenant: str) -> None:
    await limiter.admit(tenant, TenantLimits(requests_per_minute=1))
    await limiter.admit(f"{tenant}-other", TenantLimits(requests_per_minute=1))
    for _ in range(50):
        await limiter.admit(f"{tenant}-free", TenantLimits())


async def test_redis_counts_are_shared_by_replicas_under_the_tenant_prefix(
    redis_client: redis.Redis, clock: FakeClock, tenant: str
) -> None:
    replica_a, replica_b = RedisTenantLimiter(redis_client, clock=clock), RedisTenantLimiter(redis_client, clock=clock)
    limits = TenantLimits(requests_per_minute=2)
    await replica_a.admit(tenant, limits)
    await replica_b.admit(tenant, limits)
    with pytest.raises(TenantRateLimited):
        await replica_a.admit(tenant, limits)
    await replica_b.add_tokens(tenant, 5)

    keys = sorted([key.decode() async for key in redis_client.scan_iter(f"mas:{tenant}:llm:*")])
    window = int(WINDOW_START // 60)
    assert keys == [f"mas:{tenant}:llm:requests:{window}", f"mas:{tenant}:llm:tokens:{window}"]
    assert 0 < await redis_client.ttl(keys[0]) <= 120
