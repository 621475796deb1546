"""What a replica holds for its lifetime: settings, the database engine and the stores built on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from api.backends import Backends
from api.store.app_keys import AppKeyStore
from api.store.assistants import AssistantStore
from api.store.db import make_engine, make_sessionmaker
from api.store.migrate import upgrade_to_head
from api.store.products import ProductStore
from api.store.prompts import PromptStore
from api.store.tenants import TenantStore
from api.store.threads import ThreadStore
from api.store.transcript import ThreadTranscript
from mas.settings import Settings


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    app_keys: AppKeyStore
    tenants: TenantStore
    assistants: AssistantStore
    prompts: PromptStore
    threads: ThreadStore
    products: ProductStore
    backends: Backends

    @classmethod
    async def open(cls, settings: Settings, backends: Backends | None = None) -> Services:
        """Connect, bring the schema to head, and resolve the JWT secret (generating it on first start).

        Without ``backends`` (in-process) the app opens and owns local ones.
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.effective_database_url)
        await upgrade_to_head(engine)
        _ = settings.effective_jwt_secret
        sessions = make_sessionmaker(engine)
        return cls(
            settings=settings,
            engine=engine,
            app_keys=AppKeyStore(sessions),
            tenants=TenantStore(sessions),
            assistants=AssistantStore(sessions),
            prompts=PromptStore(sessions),
            threads=ThreadStore(sessions),
            products=ProductStore(sessions),
            backends=backends or Backends.local(settings, ThreadTranscript(sessions)),
        )

    async def close(self) -> None:
        await self.backends.close()
        await self.engine.dispose()


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
