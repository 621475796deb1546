"""``Memory`` and ``Product`` deployments: the memory/ services, one replica each on embedded (Milvus Lite) files."""

from __future__ import annotations

from ray import serve
from ray.serve.handle import DeploymentHandle

from agents.product import ProductQuery, ProductResult
from deployments.agents import Overrides, llm_client
from deployments.forwarding import Serves
from deployments.replica import replica_settings
from runtime import components
from store.db import make_sessionmaker


@serve.deployment(name="Memory")
class Memory(Serves):
    """``MemoryService``: turn recall and write, /v1/memory; reads the transcript from the relational store."""

    async def __init__(self, llm_router: DeploymentHandle, settings: Overrides = None) -> None:
        replica = replica_settings(settings)
        self._engine = components.database(replica)
        self.target = await components.memory(replica, make_sessionmaker(self._engine), llm_client(llm_router))

    async def __del__(self) -> None:
        await self.target.close()
        await self._engine.dispose()


@serve.deployment(name="Product")
class Product(Serves):
    """``ProductIndex`` (the tenants' product search index) and the Product agent's ``retrieve`` over it,
    which reads each hit back from the relational catalog."""

    async def __init__(self, settings: Overrides = None) -> None:
        replica = replica_settings(settings)
        self._engine = components.database(replica)
        self.target = await components.product_index(replica)
        self._agent = components.product_agent(self.target, make_sessionmaker(self._engine))

    async def retrieve(self, request: ProductQuery) -> ProductResult:
        return await self._agent.retrieve(request)

    async def __del__(self) -> None:
        await self.target.close()
        await self._engine.dispose()
