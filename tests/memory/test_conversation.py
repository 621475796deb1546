"""Contract of the conversation window, run against both stores: the transcript-backed default and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as redis

from memory.conversation import ConversationStore, RedisWindow, TranscriptWindow
from memory.types import TurnMessage
from tests.memory.doubles import InMemoryTranscript

SIZE = 4
TTL = 600


@pytest.fixture(params=["transcript", "redis"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for the transcript-backed store, else the Redis URL (skips when Redis is unreachable)."""
    return None if request.param == "transcript" else request.getfixturevalue("redis_url")


@pytest.fixture
async def window(backend: str | None, transcript: InMemoryTranscript, tenant: str) -> AsyncIterator[ConversationStore]:
    if backend is None:
        yield TranscriptWindow(transcript, SIZE)
    else:
        async with redis_window(backend, transcript, tenant) as store:
            yield store


@asynccontextmanager
async def redis_window(url: str, transcript: InMemoryTranscript, tenant: str) -> AsyncIterator[RedisWindow]:
    """A Redis window store; every key of this test's tenants (``tenant*``) is deleted afterwards."""
    store = RedisWindow.from_url(url, transcript, SIZE, TTL)
    try:
        yield store
    finally:
        keys = [key async for key in store._redis.scan_iter(match=f"mas:{tenant}*")]
        if keys:
            await store._redis.delete(*keys)
        await store.close()


async def turn(store: ConversationStore, transcript: InMemoryTranscript, tenant: str, thread: str, n: int) -> list[TurnMessage]:
    """Persist turn ``n`` to the transcript, then append it (what remember_turn does)."""
    messages = transcript.write(tenant, thread, ("user", f"问题{n}"), ("assistant", f"回答{n}"))
    await store.append(tenant, thread, messages)
    return messages


def contents(messages: list[TurnMessage]) -> list[str]:
    return [message.content for message in messages]


async def test_window_is_the_last_messages_in_order_each_once(
    window: ConversationStore, transcript: InMemoryTranscript, tenant: str
) -> None:
    await turn(window, transcript, tenant, "t1", 1)
    assert contents(await window.window(tenant, "t1")) == ["问题1", "回答1"]
    for n in range(2, 6):
        await turn(window, transcript, tenant, "t1", n)
    assert contents(await window.window(tenant, "t1")) == ["问题4", "回答4", "问题5", "回答5"]
    assert [m.role for m in await window.window(tenant, "t1")] == ["user", "assistant", "user", "assistant"]


async def test_an_empty_thread_has_an_empty_window(window: ConversationStore, tenant: str) -> None:
    assert await window.window(tenant, "never-written") == []


async def test_tenants_and_threads_never_share_a_window(
    window: ConversationStore, transcript: InMemoryTranscript, tenant: str
) -> None:
    await turn(window, transcript, tenant, "t1", 1)
    await turn(window, transcript, tenant + "-other", "t1", 2)
    await turn(window, transcript, tenant, "t2", 3)
    # A tenant id that would read as another key if ids were not quoted in the key.
    await turn(window, transcript, tenant + ":window:x", "t1", 4)
    assert contents(await window.window(tenant, "t1")) == ["问题1", "回答1"]
    assert contents(await window.window(tenant + "-other", "t1")) == ["问题2", "回答2"]
    assert contents(await window.window(tenant, "t2")) == ["问题3", "回答3"]
    assert contents(await window.window(tenant + ":window:x", "t1")) == ["问题4", "回答4"]


async def test_a_rebuild_that_already_read_the_turn_is_not_appended_twice(
    window: ConversationStore, transcript: InMemoryTranscript, tenant: str
) -> None:
    await turn(window, transcript, tenant, "t1", 1)
    await drop_cache(window, tenant, "t1")
    late = transcript.write(tenant, "t1", ("user", "问题2"), ("assistant", "回答2"))
    assert contents(await window.window(tenant, "t1")) == ["问题1", "回答1", "问题2", "回答2"]  # rebuilt on the miss
    await window.append(tenant, "t1", late)  # the turn's own append arrives after the rebuild
    assert contents(await window.window(tenant, "t1")) == ["问题1", "回答1", "问题2", "回答2"]


async def test_an_append_that_arrives_after_the_next_turn_was_written_keeps_the_window_exact(
    window: ConversationStore, transcript: InMemoryTranscript, tenant: str
) -> None:
    await turn(window, transcript, tenant, "t1", 1)
    second = transcript.write(tenant, "t1", ("user", "问题2"), ("assistant", "回答2"))
    third = transcript.write(tenant, "t1", ("user", "问题3"), ("assistant", "回答3"))
    await window.append(tenant, "t1", second)
    await window.append(tenant, "t1", third)
    assert contents(await window.window(tenant, "t1")) == ["问题2", "回答2", "问题3", "回答3"]


async def test_concurrent_rebuilds_and_appends_store_each_message_once(
    window: ConversationStore, transcript: InMemoryTranscript, tenant: str
) -> None:
    for n in range(1, 8):
        await drop_cache(window, tenant, "t1")
        messages = transcript.write(tenant, "t1", ("user", f"问题{n}"), ("assistant", f"回答{n}"))
        windows = await asyncio.gather(
            window.window(tenant, "t1"), window.append(tenant, "t1", messages), window.window(tenant, "t1")
        )
        expected = contents(transcript.threads[tenant, "t1"][-SIZE:])
        assert contents(windows[0]) == contents(windows[2]) == expected
        assert contents(await window.window(tenant, "t1")) == expected


async def drop_cache(window: ConversationStore, tenant: str, thread: str) -> None:
    """What expiry or eviction does to a Redis window; the transcript-backed one has nothing to lose."""
    if isinstance(window, RedisWindow):
        await window._redis.delete(f"mas:{tenant}:window:{thread}", f"mas:{tenant}:window:{thread}:version")


async def test_redis_cache_loss_is_rebuilt_identical_from_the_transcript(
    redis_url: str, transcript: InMemoryTranscript, tenant: str
) -> None:
    async with redis_window(redis_url, transcript, tenant) as store:
        for n in range(1, 4):
            await turn(store, transcript, tenant, "t1", n)
        before = await store.window(tenant, "t1")
        key = f"mas:{tenant}:window:t1"
        assert await store._redis.llen(key) == SIZE
        await store._redis.delete(key)  # evicted list, version left behind: still a miss
        assert await store.window(tenant, "t1") == before
        await drop_cache(store, tenant, "t1")
        assert await store.window(tenant, "t1") == before
        assert [TurnMessage.model_validate_json(raw) for raw in await store._redis.lrange(key, 0, -1)] == before


async def test_redis_window_keys_are_tenant_prefixed_and_expire(
    redis_url: str, transcript: InMemoryTranscript, tenant: str
) -> None:
    async with redis_window(redis_url, transcript, tenant) as store:
        await turn(store, transcript, tenant, "t1", 1)
        keys = sorted([key.decode() async for key in store._redis.scan_iter(match=f"mas:{tenant}:*")])
        assert keys == [f"mas:{tenant}:window:t1", f"mas:{tenant}:window:t1:version"]
        assert all([0 < await store._redis.ttl(key) <= TTL for key in keys])
        assert await store.check() == "ok"


async def test_redis_down_fails_the_check_with_the_error() -> None:
    store = RedisWindow(redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5), InMemoryTranscript(), SIZE, TTL)
    try:
        with pytest.raises(redis.ConnectionError):
            await store.check()
    finally:
        await store.close()
