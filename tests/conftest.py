"""Shared fixtures: a database per backend, the API in-process, and authenticated clients.

Backends that need a server (PostgreSQL, Redis) skip when unreachable, except
with ``MAS_TEST_REQUIRE_SERVICES=1`` (set by CI), where unreachable is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.app import create_app
from api.scopes import ALL_SCOPES, PLATFORM_TENANT
from runtime.services import Services
from runtime.settings import Settings
from store.db import make_engine
from store.migrate import upgrade_to_head
from store.models import Base
from tests.client import ApiClient

REQUIRE_SERVICES = os.environ.get("MAS_TEST_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("MAS_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MAS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def unavailable(what: str, error: BaseException) -> None:
    message = f"{what} unreachable: {type(error).__name__}: {error}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (MAS_TEST_REQUIRE_SERVICES=1: required services must run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
async def postgres_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    admin = make_url(POSTGRES_URL)
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"mas_test_{uuid.uuid4().hex[:10]}"
    try:
        connection = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable("PostgreSQL", exc)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


@pytest.fixture(scope="session")
async def redis_url() -> str:
    """The test Redis (database 15), reachable, or skip (fail under MAS_TEST_REQUIRE_SERVICES=1)."""
    client = redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (OSError, redis.RedisError) as exc:
        unavailable("Redis", exc)
    finally:
        await client.aclose()
    return REDIS_URL


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test runs once per relational backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'mas.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
async def empty_database(database_url: str) -> str:
    """The backend at the head migration with no rows (PostgreSQL is shared by the session)."""
    if database_url.startswith("postgresql"):
        engine = make_engine(database_url)
        await upgrade_to_head(engine)
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await engine.dispose()
    return database_url


@pytest.fixture
def settings(tmp_path: Path, empty_database: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=empty_database, jwt_secret="test-secret-" + "x" * 52)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """The stores and backends without the app, and without a worker claiming runs behind the test's back."""
    services = await Services.open(settings, run_worker=False)
    yield services
    await services.close()


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[ApiClient]:
    """The FastAPI app in-process (lifespan run), with helpers to mint keys and tokens."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://mas.test") as http:
            yield ApiClient(http=http, services=app.state.services)


@pytest.fixture
async def admin(api: ApiClient) -> ApiClient:
    """A platform client with every scope."""
    return await api.as_key(PLATFORM_TENANT, list(ALL_SCOPES))


@pytest.fixture
async def tenant_a(admin: ApiClient) -> ApiClient:
    """An active tenant 'tenant-a' and a client bound to it with tenant:admin + tenant:chat."""
    return await admin.with_tenant("tenant-a")


@pytest.fixture
async def tenant_b(admin: ApiClient) -> ApiClient:
    return await admin.with_tenant("tenant-b")
