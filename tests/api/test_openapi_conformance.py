"""OpenAPI conformance: schemathesis over every operation of the in-process app.

Clients generate code from ``/openapi.json``, so what it declares (status codes, bodies, content types)
must be what the API does. Runs once, on SQLite, with a platform token and with a tenant-bound token
against real data (a tenant, an assistant with a prompt, a thread, a product, a finished run), so
generated ids hit existing objects some of the time. PostgreSQL is covered by the other API tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import PositiveDataAcceptanceConfig
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from api.app import create_app
from api.scopes import ALL_SCOPES, PLATFORM_TENANT
from runtime.settings import Settings
from tests.api.test_runs import new_chat
from tests.client import ApiClient

TENANT = "conformance"
SPARE_TENANT = "conformance-spare"  # what /v1/tenants/* may ban or close without stopping the run
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,  # e.g. `"is_converted": 0` accepted
    positive_data_acceptance,  # e.g. a null the schema allows refused with 422
    unsupported_method,  # 405 with a complete Allow header
]
# Semantic errors (EMPTY_UPDATE, INVALID_CURSOR, an invalid prompt...) are 400 for schema-valid requests.
VALID_DATA_STATUSES = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]
# Where a check does not apply, by design:
NOT_CHECKED = {
    # Items are validated one by one; invalid ones are reported in `failed`, not refused.
    "POST /v1/products/import": negative_data_rejection,
    # The body is the input model of the agent the path names (GET /v1/agents lists them).
    "POST /v1/agents/{name}/invoke": positive_data_acceptance,
}


@dataclass(frozen=True)
class World:
    settings: Settings
    tokens: dict[str, str]  # "platform" / "tenant" -> bearer token
    known: dict[str, Any]  # parameter or body field name -> an existing object's id
    spare: dict[str, Any]  # the same, for operations that delete or disable what they name


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A SQLite database with a tenant's data, written by one app instance and served by another."""
    root: Path = tmp_path_factory.mktemp("conformance")
    config = Settings(data_dir=root / "data", database_url=f"sqlite+aiosqlite:///{root / 'mas.db'}", jwt_secret="c" * 64)
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mas.test") as http:
            api = ApiClient(http=http, services=app.state.services)
            platform = await api.as_key(PLATFORM_TENANT, list(ALL_SCOPES))
            tenant = await platform.with_tenant(TENANT)
            await platform.with_tenant(SPARE_TENANT)
            chat = await new_chat(tenant)
            run = await chat.wait("你好，想了解一下水光针")
            spare = await new_chat(tenant)
    token = {name: client.headers["Authorization"].removeprefix("Bearer ") for name, client in (("platform", platform), ("tenant", tenant))}
    known = {"tenant_id": TENANT, "assistant_id": chat.assistant_id, "thread_id": chat.thread_id, "run_id": run["run_id"],
             "product_id": "hydra-01", "version": 1, "category": "skincare", "name": "intent"}
    spare_ids = {**known, "tenant_id": SPARE_TENANT, "assistant_id": spare.assistant_id, "thread_id": spare.thread_id}
    return World(settings=config, tokens=token, known=known, spare=spare_ids)


@pytest.fixture(scope="module")
def app(world: World) -> Iterator[Any]:
    app = create_app(world.settings)
    yield app
    shutdown_lifespans()  # schemathesis started the app's lifespan on first use; close the database and backends


@pytest.fixture(params=["platform", "tenant"])
def conformance_schema(request: pytest.FixtureRequest, app: Any, world: World) -> Any:
    # schemathesis 4.32 names each operation's subtest through `node._nodeid`, which pytest 9.0.3 no longer has.
    request.node._nodeid = request.node.nodeid
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.update(headers={"Authorization": f"Bearer {world.tokens[request.param]}", "X-Tenant-ID": TENANT})
    schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(expected_statuses=VALID_DATA_STATUSES)
    schema.config.generation.update(allow_x00=False)  # text may not hold NUL: a 422 everywhere (test_hostile_input.py)

    def flatmap_case(ctx: Any, case: Any) -> Any:
        """Half of the valid cases name existing objects wherever they name an id (path, query, body)."""
        if case.meta is None or case.meta.generation.mode.is_negative:
            return st.just(case)  # a known id could make an invalid case valid
        method, path = case.operation.method.upper(), case.operation.path
        ids = world.spare if method == "DELETE" or path.startswith("/v1/tenants") else world.known
        return st.booleans().map(lambda use_known: with_ids(case, ids) if use_known else case)

    schema.hook(flatmap_case)
    return schema


def with_ids(case: Any, ids: dict[str, Any]) -> Any:
    def known(values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        return {name: ids[name] if name in ids and type(value) is type(ids[name]) else value for name, value in values.items()}

    case.path_parameters, case.query, case.body = known(case.path_parameters), known(case.query), known(case.body)
    return case


schema = schemathesis.pytest.from_fixture("conformance_schema")


@schema.parametrize()
@settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms_to_the_openapi_document(case: Any) -> None:
    case.call_and_validate(checks=[check for check in CHECKS if check is not NOT_CHECKED.get(case.operation.label)])
