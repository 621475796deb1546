"""The components that run as their own deployments on Serve: LLM router, memory, product index, the agents, the
chat graph (``Workflow``), the Social agent and the async-run worker.

In-process (tests, the single-process baseline) they are local objects,
opened on first use so that requests which never touch them pay nothing;
on Serve the ingress passes handle clients with the same methods instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.graph import AgentSet, ChatGraph
from agents.social.agent import SocialAgent
from llm.router import Router
from memory.service import MemoryService, ProductIndex
from runtime import components
from runtime.settings import Settings


class Closable(Protocol):
    async def close(self) -> None: ...


class RunWaker(Protocol):
    """A worker deployment (RunWorker, BatchDriver), told that work was queued."""

    async def wake(self) -> None: ...


T = TypeVar("T", bound=Closable)


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
                await self._opened.close()
                self._opened = None

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await getattr(await self._get(), name)(*args, **kwargs)

        return call


def opened_on_first_use(opener: Callable[[], Awaitable[T]]) -> T:
    """``opener``'s object, typed as itself, opened when first called (``OpenOnFirstUse``)."""
    return cast(T, OpenOnFirstUse(opener))


@dataclass
class Backends:
    llm: Router
    memory: MemoryService
    products: ProductIndex
    agents: AgentSet
    graph: ChatGraph
    social: SocialAgent
    worker: RunWaker | None = None  # the RunWorker deployment on Serve; None in-process (the app runs its own worker)
    batches: RunWaker | None = None  # the BatchDriver deployment on Serve; None in-process (the app runs its own)
    _owned: list[Closable] = field(default_factory=list)

    @classmethod
    def local(cls, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Backends:
        """In-process backends owned (and closed) by the app, built by the same factories as the deployments."""
        llm = components.llm_router(settings)
        memory = opened_on_first_use(lambda: components.memory(settings, sessions, llm))
        products = opened_on_first_use(lambda: components.product_index(settings))
        agents = AgentSet(
            compliance=components.compliance(settings),
            sentiment=components.sentiment(settings, llm),
            intent=components.intent(),
            memory=memory,
            products=components.product_agent(products, sessions),
            sales=components.sales(settings, llm),
        )
        return cls(llm=llm, memory=memory, products=products, agents=agents, graph=components.chat_graph(settings, agents),
                   social=components.social(settings, llm, agents.compliance, sessions), _owned=[llm, memory, products])

    async def close(self) -> None:
        """Closes what ``local`` opened; handle clients (``_owned`` empty) belong to their deployments."""
        for backend in self._owned:
            await backend.close()
