"""``Memory`` and ``Product`` deployments: the memory/ services, one replica each on embedded (Milvus Lite) files."""

from __future__ import annotations

from ray import serve
from ray.serve.handle import DeploymentHandle

from agents.product import ProductAgent, ProductQuery, ProductResult
from agents.summariser import summarise_with
from deployments.forwarding import Serves
from deployments.handles import HandleClient
from mas.settings import Settings
from memory.service import MemoryService, ProductIndex
from memory.settings import MemorySettings
from store.db import make_engine, make_sessionmaker
from store.products import ProductStore
from store.transcript import ThreadTranscript


@serve.deployment(name="Memory")
class Memory(Serves):
    """``MemoryService``: turn recall and write, /v1/memory; reads the transcript from the relational store."""

    async def __init__(self, llm_router: DeploymentHandle) -> None:
        self._engine = make_engine(Settings().effective_database_url)
        summarise = summarise_with(HandleClient(llm_router))  # type: ignore[arg-type]
        self.target = await MemoryService.open(MemorySettings(), ThreadTranscript(make_sessionmaker(self._engine)), summarise)

    async def __del__(self) -> None:
        await self.target.close()
        await self._engine.dispose()


@serve.deployment(name="Product")
class Product(Serves):
    """``ProductIndex`` (the tenants' product search index) and the Product agent's ``retrieve`` over it,
    which reads each hit back from the relational catalog."""

    async def __init__(self) -> None:
        self._engine = make_engine(Settings().effective_database_url)
        self.target = await ProductIndex.open(MemorySettings())
        self._agent = ProductAgent(self.target, ProductStore(make_sessionmaker(self._engine)))

    async def retrieve(self, request: ProductQuery) -> ProductResult:
        return await self._agent.retrieve(request)

    async def __del__(self) -> None:
        await self.target.close()
        await self._engine.dispose()
