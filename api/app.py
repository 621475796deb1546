"""The FastAPI application: one factory for the Serve ingress replica and for in-process tests."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI

from api.backends import Backends
from api.errors import install_error_handlers
from api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from api.routers import (
    agents,
    assistants,
    auth,
    health,
    memory,
    messages,
    openai_compat,
    products,
    prompts,
    runs,
    tenants,
    threads,
)
from api.services import Services
from mas import __version__
from mas.settings import Settings


def create_app(settings: Settings, behind_serve_proxy: bool = False, backends: Backends | None = None) -> FastAPI:
    """Build the API; its lifespan opens the services (DB, migrations, backends unless given) and closes them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = await Services.open(settings, backends)
        try:
            yield
        finally:
            await app.state.services.close()

    app = FastAPI(
        title="MAS — Marketing Agent System",
        version=__version__,
        description="Multi-agent sales and marketing assistant for medical-aesthetics and beauty brands, on Ray Serve.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (health, auth, tenants, assistants, prompts, threads, runs, products, memory, messages, openai_compat, agents):
        app.include_router(module.router)
    # Added last = outermost: the request id exists before anything else runs, 413s included.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware, echo=not behind_serve_proxy)
    return app
