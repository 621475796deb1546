"""Liveness, readiness and the service root: no auth, dependency states reported."""

from __future__ import annotations

import httpx

from api.app import create_app
from runtime.settings import Settings
from tests.client import ApiClient


async def test_root_and_health_need_no_auth(api: ApiClient) -> None:
    root = await api.get("/")
    assert root.status_code == 200
    assert root.json()["docs"] == "/docs" and root.json()["status"] == "running"
    health = await api.get("/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "healthy"


async def test_ready_reports_the_database(api: ApiClient, database_url: str) -> None:
    response = await api.get("/v1/ready")
    assert response.status_code == 200
    database = response.json()["dependencies"]["database"]
    assert database["ok"] is True
    assert database["backend"] == ("sqlite" if database_url.startswith("sqlite") else "postgresql")


async def test_ready_reports_each_memory_and_product_store(api: ApiClient) -> None:
    dependencies = (await api.get("/v1/ready")).json()["dependencies"]
    assert dependencies["memory"] == {
        "ok": True,
        "required": True,
        "stores": {"conversation:transcript": "ok", "longterm:sqlite_fts": "ok", "vectors:milvus_lite": "ok"},
    }
    assert dependencies["products"]["ok"] is True and set(dependencies["products"]["stores"]) == {"keywords:sqlite_fts", "vectors:milvus_lite"}


async def test_ready_is_503_with_retry_after_when_a_required_dependency_is_down(settings: Settings) -> None:
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(broken)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/v1/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["dependencies"]["redis"]["ok"] is False
    assert response.json()["status"] == "not_ready"


async def test_openapi_documents_every_route_group(api: ApiClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    for prefix in (
        "/v1/auth/token", "/v1/tenants/sync", "/v1/assistants", "/v1/prompts/validate", "/v1/threads",
        "/v1/products/import", "/v1/products/search", "/v1/memory/insert", "/v1/memory/search",
        "/v1/messages", "/v1/messages/responses/structured", "/v1/chat/completions", "/v1/models",
    ):  # fmt: skip
        assert prefix in paths


async def test_ready_checks_a_configured_redis(settings: Settings, redis_url: str) -> None:
    app = create_app(settings.model_copy(update={"redis_url": redis_url}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/v1/ready")
    assert response.status_code == 200
    assert response.json()["dependencies"]["redis"] == {"ok": True, "required": True, "backend": "redis"}
