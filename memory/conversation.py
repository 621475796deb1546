"""The short-term conversation window: a thread's last ``window_size`` messages, oldest first.

The durable transcript (the relational messages table) is the source of truth; a window is
either read straight from it (embedded default) or cached in Redis and rebuilt from it on a miss.
``append`` is called after the turn's messages were written to the transcript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

import redis.asyncio as redis

from memory.settings import MemorySettings
from memory.transcript import TranscriptReader
from memory.types import TurnMessage


class ConversationStore(Protocol):
    name: str

    async def append(self, tenant_id: str, thread_id: str, messages: list[TurnMessage]) -> None: ...

    async def window(self, tenant_id: str, thread_id: str) -> list[TurnMessage]: ...

    async def forget(self, tenant_id: str, thread_id: str) -> int:
        """Drops what is cached of the thread (its transcript is erased elsewhere); how many entries it removed."""
        ...

    async def check(self) -> str: ...

    async def close(self) -> None: ...


async def _tail(transcript: TranscriptReader, tenant_id: str, thread_id: str, total: int, size: int) -> list[TurnMessage]:
    return await transcript.read(tenant_id, thread_id, max(0, total - size), size)


class TranscriptWindow:
    """The embedded default: the window is the transcript's tail, read when asked.

    ``append`` does nothing: the transcript already holds the turn, so there is nothing to cache.
    """

    name = "transcript"

    def __init__(self, transcript: TranscriptReader, size: int) -> None:
        self._transcript = transcript
        self._size = size

    async def append(self, tenant_id: str, thread_id: str, messages: list[TurnMessage]) -> None:
        return None

    async def window(self, tenant_id: str, thread_id: str) -> list[TurnMessage]:
        return await self._transcript.tail(tenant_id, thread_id, self._size)

    async def forget(self, tenant_id: str, thread_id: str) -> int:
        return 0

    async def check(self) -> str:
        return "ok"

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class _Keys:
    messages: str  # list of TurnMessage JSON, the window
    version: str  # how many transcript messages the window reflects

    @classmethod
    def of(cls, tenant_id: str, thread_id: str) -> _Keys:
        # Quoting keeps ':' inside an id from forging another tenant's or thread's key.
        base = f"mas:{quote(tenant_id, safe='')}:window:{quote(thread_id, safe='')}"
        return cls(messages=base, version=f"{base}:version")


class RedisWindow:
    """The window cached in Redis under ``mas:{tenant_id}:window:{thread_id}``, bounded and with a TTL.

    Beside the list, a version key holds the transcript length the list reflects. That makes
    every write idempotent: ``append`` pushes a turn only when the cache is exactly one turn
    behind the transcript, a rebuild replaces the list only with a newer version, and each is one
    MULTI under WATCH. So a rebuild (on a miss) racing an append never stores a message twice or
    loses one, and a late append for an older turn just reloads the tail.
    """

    name = "redis"
    _attempts = 5

    def __init__(self, client: redis.Redis, transcript: TranscriptReader, size: int, ttl_seconds: int) -> None:
        self._redis = client
        self._transcript = transcript
        self._size = size
        self._ttl = ttl_seconds

    @classmethod
    def from_url(cls, url: str, transcript: TranscriptReader, size: int, ttl_seconds: int) -> RedisWindow:
        return cls(redis.from_url(url, socket_connect_timeout=5, socket_timeout=5), transcript, size, ttl_seconds)

    async def append(self, tenant_id: str, thread_id: str, messages: list[TurnMessage]) -> None:
        if not messages:
            return
        keys = _Keys.of(tenant_id, thread_id)
        total = await self._transcript.count(tenant_id, thread_id)
        if not await self._update(keys, tenant_id, thread_id, total, turn=messages):
            raise RuntimeError(f"conversation window {keys.messages} kept changing during {self._attempts} attempts")

    async def window(self, tenant_id: str, thread_id: str) -> list[TurnMessage]:
        keys = _Keys.of(tenant_id, thread_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            version, items = await pipe.get(keys.version).lrange(keys.messages, 0, -1).execute()
        if version is not None and len(items) == min(int(version), self._size):
            return [TurnMessage.model_validate_json(item) for item in items]
        total = await self._transcript.count(tenant_id, thread_id)
        tail = await _tail(self._transcript, tenant_id, thread_id, total, self._size)
        await self._update(keys, tenant_id, thread_id, total, tail=tail)  # best effort: the tail is the answer
        return tail

    async def forget(self, tenant_id: str, thread_id: str) -> int:
        keys = _Keys.of(tenant_id, thread_id)
        return int(await self._redis.delete(keys.messages, keys.version))

    async def _update(
        self,
        keys: _Keys,
        tenant_id: str,
        thread_id: str,
        total: int,
        turn: list[TurnMessage] | None = None,
        tail: list[TurnMessage] | None = None,
    ) -> bool:
        """Bring the cache to version ``total`` (a transcript length) unless it is there already: push
        ``turn`` when the cache is exactly that turn behind, else replace the list with the transcript's
        tail. False when other writers kept changing the keys."""
        for _ in range(self._attempts):
            async with self._redis.pipeline(transaction=True) as pipe:
                await pipe.watch(keys.messages, keys.version)
                version = await self._version(pipe, keys)
                if version is not None and version >= total:
                    return True  # e.g. a rebuild already read this turn from the transcript
                if turn and version == total - len(turn):
                    pipe.multi()
                    self._write(pipe, keys, total, turn, replace=False)
                else:  # missing, partly evicted, or more than one turn behind
                    tail = tail if tail is not None else await _tail(self._transcript, tenant_id, thread_id, total, self._size)
                    pipe.multi()
                    self._write(pipe, keys, total, tail, replace=True)
                try:
                    await pipe.execute()
                    return True
                except redis.WatchError:
                    continue
        return False

    async def _version(self, pipe: redis.client.Pipeline, keys: _Keys) -> int | None:
        """The cached transcript length, or None when the cache is missing or partly evicted."""
        version = await pipe.get(keys.version)
        if version is None:
            return None
        length = await pipe.llen(keys.messages)
        return int(version) if length == min(int(version), self._size) else None

    def _write(self, pipe: redis.client.Pipeline, keys: _Keys, total: int, messages: list[TurnMessage], replace: bool) -> None:
        if replace:
            pipe.delete(keys.messages)
        if messages:
            pipe.rpush(keys.messages, *(message.model_dump_json() for message in messages))
            pipe.ltrim(keys.messages, -self._size, -1)
        pipe.set(keys.version, total)
        pipe.expire(keys.messages, self._ttl)
        pipe.expire(keys.version, self._ttl)

    async def check(self) -> str:
        await self._redis.ping()
        return "ok"

    async def close(self) -> None:
        await self._redis.aclose()


def open_conversation_store(settings: MemorySettings, transcript: TranscriptReader) -> TranscriptWindow | RedisWindow:
    if settings.redis_url:
        return RedisWindow.from_url(settings.redis_url, transcript, settings.window_size, settings.window_ttl_seconds)
    return TranscriptWindow(transcript, settings.window_size)
