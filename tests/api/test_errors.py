"""The one error envelope on every failure path, request ids, and body limits."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from runtime.settings import Settings
from tests.client import ApiClient, assert_error


async def test_unknown_route_and_method_use_the_envelope(api: ApiClient) -> None:
    assert_error(await api.get("/v1/nothing-here"), 404, "NOT_FOUND")
    assert_error(await api.request("PATCH", "/v1/health"), 405, "METHOD_NOT_ALLOWED")
    # Allow lists every documented method of the path, not only the first matching route's.
    response = await api.request("PATCH", "/v1/assistants/some-id")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "DELETE, GET, PUT"


async def test_malformed_json_is_422_with_the_field_location(tenant_a: ApiClient) -> None:
    response = await tenant_a.post("/v1/threads", content=b'{"name": ', headers={"content-type": "application/json"})
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert error["details"]["fields"][0]["loc"][0] == "body"


async def test_wrong_types_list_every_offending_field(tenant_a: ApiClient) -> None:
    response = await tenant_a.post("/v1/assistants", json={"assistant_name": 5, "profile": "x"})
    error = assert_error(response, 422, "VALIDATION_ERROR")
    locations = {tuple(f["loc"]) for f in error["details"]["fields"]}
    assert {("body", "assistant_name"), ("body", "profile"), ("body", "personality")} <= locations


async def test_request_id_is_echoed_once_and_generated_when_absent(api: ApiClient) -> None:
    echoed = await api.get("/v1/health", headers={"X-Request-ID": "client-req-42"})
    assert echoed.headers.get_list("x-request-id") == ["client-req-42"]

    generated = await api.get("/v1/nothing")
    request_id = generated.headers["x-request-id"]
    assert len(request_id) == 32 and generated.json()["request_id"] == request_id


async def test_unsafe_request_ids_are_replaced(api: ApiClient) -> None:
    response = await api.get("/v1/health", headers={"X-Request-ID": "bad id\twith spaces" + "x" * 200})
    assert response.headers["x-request-id"] != "bad id" and " " not in response.headers["x-request-id"]


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversized_bodies_are_413_in_the_envelope(settings: Settings, chunked: bool) -> None:
    small = settings.model_copy(update={"max_body_bytes": 2048})
    app = create_app(small)
    payload = b'{"name": "' + b"x" * 5000 + b'"}'

    async def stream():  # type: ignore[no-untyped-def]
        for start in range(0, len(payload), 1000):
            yield payload[start : start + 1000]

    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            body = {"content": stream()} if chunked else {"content": payload}
            response = await http.post("/v1/threads", headers={"content-type": "application/json"}, **body)
    error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert "2048" in error["message"] and error["details"] == {"max_bytes": 2048}


async def test_no_stack_traces_leak_from_unexpected_errors(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/boom", headers={"X-Request-ID": "trace-me"})
    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret internals" not in response.text and "request_id" in error["message"]
    assert response.json()["request_id"] == "trace-me"
