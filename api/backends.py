"""The services behind the API that run as their own deployments on Serve: LLM router, memory, product index,
the agents, the chat graph (``Workflow``) and the async-run worker.

In-process (tests, the single-process baseline) they are local objects,
opened on first use so that requests which never touch them pay nothing;
on Serve the ingress passes handle clients with the same methods instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.compliance import ComplianceAgent
from agents.graph import AgentSet, ChatGraph
from agents.intent import IntentAgent
from agents.product import ProductAgent
from agents.sales import SalesAgent
from agents.sentiment import SentimentAgent
from agents.summariser import summarise_with
from llm.router import Router
from llm.settings import LLMSettings
from mas.settings import Settings
from memory.service import MemoryService, ProductIndex
from memory.settings import MemorySettings
from store.products import ProductStore
from store.transcript import ThreadTranscript

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


def local_agents(settings: Settings, llm: Router, memory: MemoryService, products: ProductAgent) -> AgentSet:
    return AgentSet(
        compliance=ComplianceAgent.load(settings.config_dir / "compliance"),
        sentiment=SentimentAgent(llm, settings.sentiment_mode),
        intent=IntentAgent(),
        memory=memory,
        products=products,
        sales=SalesAgent(llm),
    )


@dataclass
class Backends:
    llm: Router
    memory: MemoryService
    products: ProductIndex
    agents: AgentSet
    graph: ChatGraph
    worker: Any = None  # the RunWorker deployment on Serve; None in-process (the app runs its own worker)
    _owned: list[Any] = field(default_factory=list)

    @classmethod
    def local(cls, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Backends:
        """In-process backends owned (and closed) by the app."""
        llm = Router.from_settings(LLMSettings(redis_url=settings.redis_url))
        memory_settings = MemorySettings(data_dir=settings.data_dir, redis_url=settings.redis_url)
        transcript = ThreadTranscript(sessions)
        memory = OpenOnFirstUse(lambda: MemoryService.open(memory_settings, transcript, summarise_with(llm)))
        products = OpenOnFirstUse(lambda: ProductIndex.open(memory_settings))
        agents = local_agents(settings, llm, memory, ProductAgent(products, ProductStore(sessions)))  # type: ignore[arg-type]
        graph = ChatGraph(agents, settings.agent_timeout_seconds)
        return cls(llm=llm, memory=memory, products=products, agents=agents, graph=graph,  # type: ignore[arg-type]
                   _owned=[llm, memory, products])

    async def close(self) -> None:
        """Closes what ``local`` opened; handle clients (``_owned`` empty) belong to their deployments."""
        for backend in self._owned:
            await backend.close()
