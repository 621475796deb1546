"""The run event log's contract, the same cases against each backend: SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from store.db import make_engine, make_sessionmaker
from store.migrate import upgrade_to_head
from store.run_events import LoggedEvent, RedisRunEventLog, RunEventLog, SqlRunEventLog

TTL_S = 60


class Clock:
    """A settable clock for the relational log's TTL."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Which log and its URL (PostgreSQL and Redis skip when unreachable, fail under MAS_TEST_REQUIRE_SERVICES=1)."""
    if request.param == "sqlite":
        return "relational", f"sqlite+aiosqlite:///{tmp_path / 'mas.db'}"
    if request.param == "postgres":
        return "relational", request.getfixturevalue("postgres_database")
    return "redis", request.getfixturevalue("redis_url")


@pytest.fixture
async def event_log(backend: tuple[str, str]) -> AsyncIterator[tuple[RunEventLog, Clock | None]]:
    kind, url = backend
    if kind == "redis":
        log: RunEventLog = RedisRunEventLog.from_url(url, TTL_S)
        yield log, None
    else:
        engine = make_engine(url)
        await upgrade_to_head(engine)
        clock = Clock()
        log = SqlRunEventLog(make_sessionmaker(engine), TTL_S, clock=clock)
        yield log, clock
        await engine.dispose()
    await log.close()


def events(*seqs: int) -> list[LoggedEvent]:
    return [LoggedEvent(seq, "message.delta", {"delta": f"第{seq}段"}) for seq in seqs]


async def test_events_read_back_in_order_after_any_seq(event_log: tuple[RunEventLog, Clock | None]) -> None:
    log, _ = event_log
    run = uuid.uuid4().hex
    await log.append("tenant-a", run, events(1, 2))
    await log.append("tenant-a", run, events(3))
    assert await log.read("tenant-a", run, 0) == events(1, 2, 3)
    assert await log.read("tenant-a", run, 2) == events(3)
    assert await log.read("tenant-a", run, 3) == []
    assert await log.read("tenant-a", uuid.uuid4().hex, 0) == []


async def test_a_tenant_never_reads_another_tenants_run(event_log: tuple[RunEventLog, Clock | None]) -> None:
    log, _ = event_log
    run = uuid.uuid4().hex
    await log.append("tenant-a", run, events(1))
    assert await log.read("tenant-b", run, 0) == []


async def test_events_past_their_ttl_are_gone(event_log: tuple[RunEventLog, Clock | None]) -> None:
    log, clock = event_log
    run = uuid.uuid4().hex
    await log.append("tenant-a", run, events(1))
    if clock is None:  # Redis expires the key by itself: its TTL is set
        redis_log = log
        assert isinstance(redis_log, RedisRunEventLog)
        assert 0 < await redis_log._redis.ttl(redis_log._key("tenant-a", run)) <= TTL_S
        return
    clock.now += timedelta(seconds=TTL_S + 1)
    assert await log.read("tenant-a", run, 0) == []
    assert await log.expire() >= 1  # (PostgreSQL is shared by the session: other tests' rows may go too)
    assert await log.read("tenant-a", run, 0) == []
