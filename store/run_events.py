"""The log of run events: what a client joining or resuming a run's stream is replayed, for a TTL after each write.

Two backends with one contract: the relational table ``run_events`` (the default: rows older than the TTL are
ignored by reads and deleted by the run worker's housekeeping, ``expire``), and Redis when ``MAS_REDIS_URL`` is set
(a list per run, ``mas:{tenant}:run-events:{run_id}``, expiring with the TTL).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import redis.asyncio as redis
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import RunEventRow, utcnow


@dataclass(frozen=True)
class LoggedEvent:
    seq: int  # the SSE event id: 1, 2, ... per execution of the run (runs.run_events.ATTEMPT_SPAN)
    name: str
    data: dict[str, Any]


class RunEventLog(Protocol):
    async def append(self, tenant_id: str, run_id: str, events: list[LoggedEvent]) -> None: ...

    async def read(self, tenant_id: str, run_id: str, after: int) -> list[LoggedEvent]:
        """The run's events after ``after`` (a seq), in order; none once they expired."""

    async def expire(self) -> int: ...

    async def forget(self, tenant_id: str, run_ids: list[str]) -> int:
        """Deletes these runs' events now (a customer's erasure); how many entries it removed."""
        ...

    async def close(self) -> None: ...


class SqlRunEventLog:
    name = "sql"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_seconds: float,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._ttl = timedelta(seconds=ttl_seconds)
        self._now = clock

    async def append(self, tenant_id: str, run_id: str, events: list[LoggedEvent]) -> None:
        now = self._now()
        async with self._sessions.begin() as session:
            await session.execute(insert(RunEventRow), [
                {"tenant_id": tenant_id, "run_id": run_id, "seq": event.seq, "name": event.name, "data": event.data,
                 "created_at": now} for event in events])

    async def read(self, tenant_id: str, run_id: str, after: int) -> list[LoggedEvent]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(RunEventRow.seq, RunEventRow.name, RunEventRow.data)
                .where(RunEventRow.tenant_id == tenant_id, RunEventRow.run_id == run_id, RunEventRow.seq > after,
                       RunEventRow.created_at >= self._now() - self._ttl)
                .order_by(RunEventRow.seq))
            return [LoggedEvent(seq, name, data) for seq, name, data in rows]

    async def expire(self) -> int:
        """Delete the events older than the TTL; returns how many."""
        async with self._sessions.begin() as session:
            result = await session.execute(delete(RunEventRow).where(RunEventRow.created_at < self._now() - self._ttl))
            return result.rowcount

    async def forget(self, tenant_id: str, run_ids: list[str]) -> int:
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(RunEventRow).where(RunEventRow.tenant_id == tenant_id, RunEventRow.run_id.in_(run_ids)))
            return result.rowcount

    async def close(self) -> None:
        return None


class RedisRunEventLog:
    name = "redis"

    def __init__(self, client: redis.Redis, ttl_seconds: float) -> None:
        self._redis = client
        self._ttl = max(1, int(ttl_seconds))

    @classmethod
    def from_url(cls, url: str, ttl_seconds: float) -> RedisRunEventLog:
        return cls(redis.from_url(url, socket_connect_timeout=5, socket_timeout=5), ttl_seconds)

    @staticmethod
    def _key(tenant_id: str, run_id: str) -> str:
        return f"mas:{tenant_id}:run-events:{run_id}"

    async def append(self, tenant_id: str, run_id: str, events: list[LoggedEvent]) -> None:
        key = self._key(tenant_id, run_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, *(json.dumps([event.seq, event.name, event.data], ensure_ascii=False) for event in events))
            pipe.expire(key, self._ttl)
            await pipe.execute()

    async def read(self, tenant_id: str, run_id: str, after: int) -> list[LoggedEvent]:
        items = await self._redis.lrange(self._key(tenant_id, run_id), 0, -1)
        return [LoggedEvent(seq, name, data) for seq, name, data in map(json.loads, items) if seq > after]

    async def expire(self) -> int:
        return 0  # Redis expires each run's list by itself

    async def forget(self, tenant_id: str, run_ids: list[str]) -> int:
        """How many runs had events (a run's events are one list)."""
        return int(await self._redis.delete(*(self._key(tenant_id, run_id) for run_id in run_ids))) if run_ids else 0

    async def close(self) -> None:
        await self._redis.aclose()
