"""Hostile and malformed input gets a clear 4xx in the one error envelope, and nothing half-written: integers
beyond any sane bound, JSON nested too deep or too big, non-finite numbers, lone surrogates and NUL in text,
recursive JSON Schemas, oversized declared bodies and query strings (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from api.app import create_app
from llm.types import StreamEvent
from runtime.settings import Settings
from tests.api.test_runs import Chat, new_chat, sse_events
from tests.api.test_threads import ASSISTANT
from tests.client import ApiClient, assert_error


def nested(depth: int) -> str:
    """JSON text of ``depth`` objects, one inside the other."""
    return '{"a": ' * depth + "1" + "}" * depth


async def send(client: ApiClient, method: str, url: str, text: str, content_type: str = "application/json") -> httpx.Response:
    """A raw JSON body (``text`` may hold what json.dumps would refuse or escape)."""
    return await client.request(method, url, content=text.encode(), headers={"content-type": content_type})


async def new_assistant(client: ApiClient) -> str:
    return (await client.expect(201, "POST", "/v1/assistants", json=ASSISTANT))["assistant_id"]


# --- integers beyond any sane bound: 422, never an overflow in SQL ------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/v1/assistants?page=461168601842738792", None),
        ("GET", "/v1/assistants?page=1000001", None),
        ("GET", "/v1/prompts/{aid}/tenant-a/9223372036854775808", None),
        ("GET", "/v1/prompts/{aid}/tenant-a/2147483648", None),
        ("POST", "/v1/prompts/{aid}/rollback", '{"version": 9223372036854775808}'),
        ("POST", "/v1/prompts/{aid}/rollback", '{"version": 2147483648}'),
        ("PUT", "/v1/prompts/tenant-a/{aid}", '{"prompt_config": {"brand_voice": "x"}, "base_version": 9223372036854775808}'),
    ],
)
async def test_integers_beyond_their_bound_are_422(tenant_a: ApiClient, method: str, url: str, body: str | None) -> None:
    url = url.format(aid=await new_assistant(tenant_a))
    response = await (tenant_a.request(method, url) if body is None else send(tenant_a, method, url, body))
    assert_error(response, 422, "VALIDATION_ERROR")


# --- JSON too deep or too big ------------------------------------------------------------------------------------


async def test_bodies_too_deep_to_parse_are_4xx_in_the_envelope(tenant_a: ApiClient) -> None:
    for depth in (1000, 100_000):
        assert_error(await send(tenant_a, "POST", "/v1/threads", "[" * depth), 422, "VALIDATION_ERROR")
        assert_error(await send(tenant_a, "POST", "/v1/products/import", "[" * depth), 422, "VALIDATION_ERROR")
    ndjson = await send(tenant_a, "POST", "/v1/products/import", "[" * 1000, "application/x-ndjson")
    assert ndjson.status_code == 200, ndjson.text
    assert ndjson.json()["imported"] == 0 and "deep" in ndjson.json()["failed"][0]["error"]


async def test_free_form_json_fields_are_bounded_in_depth_and_size(tenant_a: ApiClient) -> None:
    thread = await tenant_a.expect(201, "POST", "/v1/threads", json={"metadata": json.loads(nested(32))})  # the deepest allowed
    too_deep = [
        ("POST", "/v1/threads", f'{{"metadata": {nested(300)}}}'),
        ("POST", "/v1/threads", f'{{"metadata": {nested(33)}}}'),
        ("POST", f"/v1/threads/{thread['thread_id']}/info", f'{{"metadata": {nested(300)}}}'),
        ("POST", "/v1/assistants", json.dumps(ASSISTANT)[:-1] + f', "profile": {nested(300)}}}'),
    ]
    for method, url, text in too_deep:
        error = assert_error(await send(tenant_a, method, url, text), 422, "VALIDATION_ERROR")
        assert "deep" in json.dumps(error["details"])
    too_big = {"metadata": {"notes": "x" * 70_000}}
    assert_error(await tenant_a.post("/v1/threads", json=too_big), 422, "VALIDATION_ERROR")
    too_many = {"metadata": {str(i): i for i in range(2000)}}
    assert_error(await tenant_a.post("/v1/threads", json=too_many), 422, "VALIDATION_ERROR")
    assert (await tenant_a.expect(200, "GET", f"/v1/threads/{thread['thread_id']}"))["metadata"] == json.loads(nested(32))


async def test_a_run_with_too_deep_metadata_is_refused_and_leaves_no_poisoned_record(tenant_a: ApiClient) -> None:
    chat = await new_chat(tenant_a)
    body = json.dumps(chat.body("你好"))[:-1] + f', "metadata": {nested(300)}}}'
    assert_error(await send(tenant_a, "POST", chat.url("runs/wait"), body), 422, "VALIDATION_ERROR")
    done = await chat.wait("你好", metadata={"channel": "wechat"})  # the thread is free, and a sane run reads back
    record = await tenant_a.expect(200, "GET", chat.url(f"runs/{done['run_id']}"))
    assert record["metadata"] == {"channel": "wechat"}


# --- JSON Schemas that would recurse forever ---------------------------------------------------------------------

TREE = {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}}
LOOPING_SCHEMAS = [
    {"$ref": "#"},
    {"allOf": [{"$ref": "#"}]},
    {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"anyOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"},
    {"definitions": {"a": {"not": {"$ref": "#/definitions/a"}}}, "properties": {"x": {"$ref": "#/definitions/a"}}},
    {"$ref": "#/$defs/missing"},
    {"$ref": "https://example.com/remote.json"},
]


@pytest.mark.parametrize("schema", LOOPING_SCHEMAS)
async def test_schemas_that_would_recurse_forever_are_400(tenant_a: ApiClient, schema: dict[str, Any]) -> None:
    response = await tenant_a.post("/v1/messages/responses/structured", json={"message": "x", "schema": schema})
    assert_error(response, 400, "INVALID_SCHEMA")
    completion = {"model": "structured", "messages": [{"role": "user", "content": "x"}],
                  "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}}
    assert_error(await tenant_a.post("/v1/chat/completions", json=completion), 400, "INVALID_LLM_REQUEST")


async def test_recursive_schemas_that_descend_are_fine_and_schemas_are_bounded(tenant_a: ApiClient) -> None:
    body = await tenant_a.expect(200, "POST", "/v1/messages/responses/structured", json={"message": "x", "schema": TREE})
    assert isinstance(body["data"], dict)
    deep = f'{{"message": "x", "schema": {nested(300)}}}'
    assert_error(await send(tenant_a, "POST", "/v1/messages/responses/structured", deep), 422, "VALIDATION_ERROR")


# --- text: lone surrogates and NUL; numbers: NaN and infinities ---------------------------------------------------

BAD_TEXT = ["a\\ud800b", "\\udfff", "a\\u0000b"]
BAD_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e309"]


@pytest.mark.parametrize("text", BAD_TEXT)
@pytest.mark.parametrize("stream", [False, True])
async def test_lone_surrogates_and_nul_in_chat_completions_are_422(tenant_a: ApiClient, text: str, stream: bool) -> None:
    body = f'{{"model": "chat-default", "stream": {json.dumps(stream)}, "messages": [{{"role": "user", "content": "{text}"}}]}}'
    assert_error(await send(tenant_a, "POST", "/v1/chat/completions", body), 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("text", BAD_TEXT)
async def test_lone_surrogates_and_nul_are_422_in_every_text_field(tenant_a: ApiClient, text: str) -> None:
    for body in (f'{{"name": "{text}"}}', f'{{"metadata": {{"k": "{text}"}}}}', f'{{"metadata": {{"{text}": 1}}}}',
                 f'{{"services": ["{text}"]}}'):
        error = assert_error(await send(tenant_a, "POST", "/v1/threads", body), 422, "VALIDATION_ERROR")
        assert error["details"]["fields"][0]["loc"][0] == "body"
    item = f'{{"product_id": "p1", "name": "{text}", "category": "c", "description": ""}}'
    assert_error(await send(tenant_a, "POST", "/v1/products/import", f"[{item}]"), 422, "VALIDATION_ERROR")
    ndjson = await send(tenant_a, "POST", "/v1/products/import", item, "application/x-ndjson")
    assert ndjson.status_code == 200 and ndjson.json()["imported"] == 0 and ndjson.json()["failed"][0]["index"] == 0


async def test_nul_in_the_url_is_422_not_a_database_error(tenant_a: ApiClient) -> None:
    assert_error(await tenant_a.get("/v1/products/search?q=a%00b"), 422, "VALIDATION_ERROR")
    assert_error(await tenant_a.get("/v1/threads/a%00b"), 422, "VALIDATION_ERROR")
    assert_error(await tenant_a.get("/v1/products/a%00b"), 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("number", BAD_NUMBERS)
async def test_non_finite_numbers_are_422_not_stored_as_null(tenant_a: ApiClient, number: str) -> None:
    item = f'{{"product_id": "p1", "name": "n", "category": "c", "description": "", "price": {number}}}'
    assert_error(await send(tenant_a, "POST", "/v1/products/import", f"[{item}]"), 422, "VALIDATION_ERROR")
    assert_error(await send(tenant_a, "POST", "/v1/threads", f'{{"metadata": {{"score": {number}}}}}'), 422, "VALIDATION_ERROR")
    assert_error(await send(tenant_a, "POST", "/v1/messages", f'{{"message": "hi", "temperature": {number}}}'), 422, "VALIDATION_ERROR")
    assert_error(await tenant_a.get("/v1/products/p1"), 404, "PRODUCT_NOT_FOUND")


# --- streams always end properly ---------------------------------------------------------------------------------


async def test_a_chat_completion_stream_that_fails_midway_ends_with_an_error_and_done(
    tenant_a: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(request: Any) -> AsyncIterator[StreamEvent]:
        yield StreamEvent(delta="你好")
        raise RuntimeError("boom")

    monkeypatch.setattr(tenant_a.services.backends.llm, "stream", failing)
    body = {"model": "chat-default", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    response = await tenant_a.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    frames = [frame.removeprefix("data: ") for frame in response.text.strip().split("\n\n")]
    assert frames[-1] == "[DONE]"
    assert json.loads(frames[-2])["error"]["code"] == "INTERNAL_ERROR"


async def test_a_run_stream_that_fails_midway_ends_with_run_failed(tenant_a: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    chat: Chat = await new_chat(tenant_a)
    executor = tenant_a.services.executor
    start = executor.start

    async def failing_start(begin: Any) -> Any:
        run, events = await start(begin)

        async def broken() -> AsyncIterator[Any]:
            yield await anext(events)
            raise RuntimeError("boom")

        return run, broken()

    monkeypatch.setattr(executor, "start", failing_start)
    response = await tenant_a.post(chat.url("runs/stream"), json=chat.body("你好"))
    events = sse_events(response.text)
    assert events[0][0] == "run.started" and events[-1][0] == "run.failed"
    assert events[-1][1]["error"]["code"] == "INTERNAL_ERROR"


# --- limits the service checks before reading a body -------------------------------------------------------------


async def test_a_declared_content_length_over_the_limit_is_413_at_once(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_body_bytes": 2048}))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the body never comes
        raise AssertionError("unreachable")

    async def send_message(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/threads", "raw_path": b"/v1/threads", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"t"), (b"content-type", b"application/json"), (b"content-length", b"999999999")],
             "client": ("127.0.0.1", 1), "server": ("t", 80)}
    await asyncio.wait_for(app(scope, receive, send_message), timeout=5)
    assert sent[0]["status"] == 413
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE" and body["error"]["details"] == {"max_bytes": 2048}


async def test_a_huge_query_string_is_414_in_the_envelope(tenant_a: ApiClient) -> None:
    # 60 KB: beyond what the service takes, within what the HTTP server in front passes on (README, "Ray Serve")
    error = assert_error(await tenant_a.get("/v1/products/search?q=" + "a" * 60_000), 414, "URI_TOO_LONG")
    assert error["details"]["max_bytes"] > 0


# --- property: random JSON and unicode into free-form fields never gives a 500 ------------------------------------

_TEXT = st.text(st.characters(codec=None, exclude_categories=()) | st.sampled_from("\x00\ud800\udfff"), max_size=8)  # any code point
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True) | _TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_TEXT, children, max_size=3),
    max_leaves=40,
)
# (create URL, read URL of the created object, its id field, a text field, the free-form field, other required fields)
_TARGETS = {
    "thread": ("/v1/threads", "/v1/threads/{}", "thread_id", "name", "metadata", {}),
    "assistant": ("/v1/assistants", "/v1/assistants/{}", "assistant_id", "nickname", "profile", ASSISTANT),
}


@pytest.mark.parametrize("target", sorted(_TARGETS))
@hypothesis_settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(free_form=st.dictionaries(_TEXT, _JSON, max_size=4), text=_TEXT)
async def test_random_json_and_unicode_never_give_a_500_and_round_trip(
    tenant_a: ApiClient, target: str, free_form: dict[str, Any], text: str
) -> None:
    create, read, id_field, text_field, free_form_field, required = _TARGETS[target]
    body = json.dumps({**required, text_field: text, free_form_field: free_form})  # NaN, Infinity as such; NUL, surrogates escaped
    response = await send(tenant_a, "POST", create, body)
    assert response.status_code in (201, 422), response.text
    event(f"status {response.status_code}")
    if response.status_code == 422:
        assert_error(response, 422, "VALIDATION_ERROR")
        return
    stored = await tenant_a.expect(200, "GET", read.format(response.json()[id_field]))
    assert stored[text_field] == text and numbers_as_floats(stored[free_form_field]) == numbers_as_floats(free_form)


def numbers_as_floats(value: Any) -> Any:
    """JSON has one number type: PostgreSQL's JSONB gives ``3.6e16`` back as ``36000000000000000``."""
    if isinstance(value, dict):
        return {key: numbers_as_floats(child) for key, child in value.items()}
    if isinstance(value, list):
        return [numbers_as_floats(child) for child in value]
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
