"""A reload asked of one replica reaches every replica: ``reload`` bumps the component's generation in the relational
store, and each replica, before serving a call, compares its generation with the stored one (at most every
``check_s``) and reloads when it moved. A reload that fails (a file that does not validate) bumps nothing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, cast

from store.generations import GenerationStore

log = logging.getLogger("mas.reloads")


class Reloadable(Protocol):
    async def reload(self, method: str) -> Any:
        """Re-reads the configuration (``method``: which part was asked for; "all" for everything); ValueError when
        it does not validate, the running version staying."""


T = TypeVar("T", bound=Reloadable)


class KeptCurrent:
    """Forwards ``await proxy.method(...)`` to the target once the target's configuration is the stored generation's."""

    def __init__(self, target: Reloadable, generations: GenerationStore, name: str, check_s: float) -> None:
        self._target, self._generations, self._name, self._check_s = target, generations, name, check_s
        self._seen: int | None = None
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()

    async def reload(self, method: str) -> Any:
        async with self._lock:
            result = await self._target.reload(method)
            self._seen = await self._generations.bump(self._name)
            self._checked_at = time.monotonic()
            return result

    async def _current(self) -> None:
        if time.monotonic() - self._checked_at < self._check_s:
            return
        async with self._lock:
            if time.monotonic() - self._checked_at < self._check_s:
                return
            stored = await self._generations.get(self._name)
            self._checked_at = time.monotonic()
            if self._seen is not None and stored != self._seen:
                try:
                    await self._target.reload("all")
                except ValueError:  # this replica's files do not validate: keep serving the version it has
                    log.exception("%s: generation %s asked for a reload that failed here", self._name, stored)
            self._seen = stored

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)
        method = getattr(self._target, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            await self._current()
            return await method(*args, **kwargs)

        return call


def kept_current(target: T, generations: GenerationStore, name: str, check_s: float) -> T:
    """``target``, typed as itself, reloaded whenever any replica reloads its ``name`` (``KeptCurrent``)."""
    return cast(T, KeptCurrent(target, generations, name, check_s))
