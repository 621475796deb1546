"""Direct LLM endpoints on the embedded default (the offline provider), and the official openai client against them."""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest

from api.scopes import TENANT_ADMIN
from tests.client import ApiClient, assert_error

SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "urgency": {"type": "integer", "minimum": 0, "maximum": 3},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["sentiment", "urgency", "tags"],
}


def openai_client(client: ApiClient) -> openai.AsyncOpenAI:
    """The official client, unchanged, over the in-process app; the access token is its api key."""
    token = client.headers["Authorization"].removeprefix("Bearer ")
    return openai.AsyncOpenAI(base_url="http://mas.test/v1", api_key=token, http_client=client.http, max_retries=0)


async def test_messages_answers_offline_by_default_and_says_so(tenant_a: ApiClient) -> None:
    body = await tenant_a.expect(200, "POST", "/v1/messages", json={"message": "你好，水光针多少钱？"})
    assert body["content"].strip()
    assert (body["model"], body["provider"]) == ("offline", "offline")
    assert body["usage"]["input_tokens"] > 0 and body["usage"]["output_tokens"] > 0
    assert body["cost_usd"] == 0 and body["latency_ms"] >= 0


async def test_messages_input_is_checked(tenant_a: ApiClient) -> None:
    both = {"message": "hi", "messages": [{"role": "user", "content": "hi"}]}
    assert_error(await tenant_a.post("/v1/messages", json=both), 422, "VALIDATION_ERROR")
    assert_error(await tenant_a.post("/v1/messages", json={}), 422, "VALIDATION_ERROR")
    no_user = {"messages": [{"role": "assistant", "content": "hi"}]}
    assert_error(await tenant_a.post("/v1/messages", json=no_user), 422, "VALIDATION_ERROR")
    assert_error(await tenant_a.post("/v1/messages", json={"message": "hi", "model": "no-such-model"}), 404, "UNKNOWN_MODEL")
    assert_error(await tenant_a.post("/v1/messages", json={"message": "hi", "temperature": 5}), 422, "VALIDATION_ERROR")


async def test_structured_output_satisfies_any_schema(tenant_a: ApiClient) -> None:
    body = await tenant_a.expect(200, "POST", "/v1/messages/responses/structured", json={"message": "分析：太贵了不想做", "schema": SCHEMA})
    jsonschema.validate(body["data"], SCHEMA)
    broken = {"message": "x", "schema": {"type": "object", "properties": {"a": {"type": "no-such-type"}}}}
    assert_error(await tenant_a.post("/v1/messages/responses/structured", json=broken), 400, "INVALID_SCHEMA")


async def test_responses_passthrough_needs_an_openai_route(tenant_a: ApiClient) -> None:
    assert_error(await tenant_a.post("/v1/messages/responses", json={"model": "gpt-4.1-mini", "input": "hi"}), 400, "NO_OPENAI_ROUTE")


async def test_llm_endpoints_need_chat_scope(admin: ApiClient) -> None:
    admin_only = await admin.with_tenant("tenant-a", (TENANT_ADMIN,))
    assert_error(await admin_only.post("/v1/messages", json={"message": "hi"}), 403, "INSUFFICIENT_SCOPES")
    assert_error(await admin_only.get("/v1/models"), 403, "INSUFFICIENT_SCOPES")


async def test_openai_client_lists_aliases_and_completes(tenant_a: ApiClient) -> None:
    client = openai_client(tenant_a)
    ids = [m.id for m in (await client.models.list()).data]
    assert "chat-default" in ids and "offline" in ids
    completion = await client.chat.completions.create(
        model="chat-default", messages=[{"role": "system", "content": "你是美容顾问"}, {"role": "user", "content": "推荐一个补水项目"}]
    )
    assert completion.choices[0].message.role == "assistant" and completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop" and completion.model == "offline"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens > 0


async def test_openai_client_streams_the_same_text_as_the_plain_call(tenant_a: ApiClient) -> None:
    client = openai_client(tenant_a)
    messages = [{"role": "user", "content": "敏感肌适合做什么？"}]
    plain = await client.chat.completions.create(model="chat-default", messages=messages)
    stream = await client.chat.completions.create(model="chat-default", messages=messages, stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_openai_client_gets_structured_json_and_typed_errors(tenant_a: ApiClient) -> None:
    client = openai_client(tenant_a)
    completion = await client.chat.completions.create(
        model="structured",
        messages=[{"role": "user", "content": "分析这句话"}],
        response_format={"type": "json_schema", "json_schema": {"name": "analysis", "schema": SCHEMA}},
    )
    jsonschema.validate(json.loads(completion.choices[0].message.content), SCHEMA)
    with pytest.raises(openai.NotFoundError) as raised:
        await client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.body["code"] == "UNKNOWN_MODEL"
