"""Liveness and readiness (no auth)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import ServicesDep
from api.routers import CheckedRoute
from memory.service import MemoryService, ProductIndex
from runtime import __version__

router = APIRouter(tags=["health"], route_class=CheckedRoute)

SERVICE_NAME = "mas"
DEPENDENCY_TIMEOUT_S = 2.0


@router.get("/")
async def root() -> dict[str, str]:
    return {"service": SERVICE_NAME, "status": "running", "version": __version__, "docs": "/docs"}


@router.get("/v1/health")
async def health() -> dict[str, str]:
    return {"status": "healthy", "service": SERVICE_NAME, "version": __version__}


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    dependencies: dict[str, dict[str, Any]]


@router.get("/v1/ready", response_model=Readiness, responses={503: {"model": Readiness, "description": "A required dependency is down."}})
async def ready(services: ServicesDep) -> JSONResponse:
    """Each dependency's state; 503 with Retry-After while a required one is down."""
    checks: dict[str, dict[str, object]] = {"database": await _check_database(services)}
    if services.settings.redis_url:
        checks["redis"] = await _check_redis(services.settings.redis_url)
    checks["memory"] = await _check_backend(services.backends.memory)
    checks["products"] = await _check_backend(services.backends.products)
    is_ready = all(check["ok"] for check in checks.values() if check["required"])
    body = {"status": "ready" if is_ready else "not_ready", "dependencies": checks}
    return JSONResponse(body, status_code=200 if is_ready else 503, headers=None if is_ready else {"Retry-After": "5"})


async def _check_database(services: ServicesDep) -> dict[str, object]:
    backend = services.engine.dialect.name
    try:
        async with asyncio.timeout(DEPENDENCY_TIMEOUT_S):
            async with services.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        return {"ok": True, "required": True, "backend": backend}
    except Exception as exc:  # any failure means "not ready", reported, never raised
        return {"ok": False, "required": True, "backend": backend, "error": type(exc).__name__}


async def _check_backend(backend: MemoryService | ProductIndex) -> dict[str, object]:
    """The Memory or Product service's own check of each of its stores (``{"vectors:milvus_lite": "ok", ...}``)."""
    try:
        async with asyncio.timeout(DEPENDENCY_TIMEOUT_S * 3):
            stores = await backend.check()
    except Exception as exc:
        return {"ok": False, "required": True, "error": type(exc).__name__}
    return {"ok": all(state == "ok" for state in stores.values()), "required": True, "stores": stores}


async def _check_redis(url: str) -> dict[str, object]:
    import redis.asyncio as redis

    client = redis.from_url(url, socket_connect_timeout=DEPENDENCY_TIMEOUT_S, socket_timeout=DEPENDENCY_TIMEOUT_S)
    try:
        await client.ping()
        return {"ok": True, "required": True, "backend": "redis"}
    except Exception as exc:
        return {"ok": False, "required": True, "backend": "redis", "error": type(exc).__name__}
    finally:
        await client.aclose()
