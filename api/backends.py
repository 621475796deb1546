"""The services behind the API that run as their own deployments on Serve: LLM router, memory, product index.

In-process (tests, the single-process baseline) they are local objects,
opened on first use so that requests which never touch them pay nothing;
on Serve the ingress passes handle clients with the same methods instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from agents.summariser import summarise_with
from api.store.transcript import ThreadTranscript
from llm.router import Router
from llm.settings import LLMSettings
from mas.settings import Settings
from memory.service import MemoryService, ProductIndex
from memory.settings import MemorySettings

T = TypeVar("T")


class OpenOnFirstUse(Generic[T]):
    """Forwards ``await proxy.method(...)`` to the object ``opener`` returns, opening it once, on first call.

    ``close`` is its own: it closes the object only if it was ever opened.
    """

    def __init__(self, opener: Callable[[], Awaitable[T]]) -> None:
        self._opener = opener
        self._lock = asyncio.Lock()
        self._opened: T | None = None

    async def _get(self) -> T:
        async with self._lock:
            if self._opened is None:
                self._opened = await self._opener()
            return self._opened

    async def close(self) -> None:
        async with self._lock:
            if self._opened is not None:
                await self._opened.close()  # type: ignore[attr-defined]
                self._opened = None

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await getattr(await self._get(), name)(*args, **kwargs)

        return call


@dataclass
class Backends:
    llm: Router
    memory: MemoryService
    products: ProductIndex
    _owned: list[Any] = field(default_factory=list)

    @classmethod
    def local(cls, settings: Settings, transcript: ThreadTranscript) -> Backends:
        """In-process backends owned (and closed) by the app."""
        llm = Router.from_settings(LLMSettings(redis_url=settings.redis_url))
        memory_settings = MemorySettings(data_dir=settings.data_dir, redis_url=settings.redis_url)
        memory = OpenOnFirstUse(lambda: MemoryService.open(memory_settings, transcript, summarise_with(llm)))
        products = OpenOnFirstUse(lambda: ProductIndex.open(memory_settings))
        return cls(llm=llm, memory=memory, products=products, _owned=[llm, memory, products])  # type: ignore[arg-type]

    async def close(self) -> None:
        """Closes what ``local`` opened; handle clients (``_owned`` empty) belong to their deployments."""
        for backend in self._owned:
            await backend.close()
