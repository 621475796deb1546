"""Agents for operators (list, invoke one), the compliance check for brands, and the OpenAI-compatible endpoint
with an assistant id as ``model`` (runs the whole graph on a thread)."""

from __future__ import annotations

import pytest

from api.scopes import TENANT_CHAT
from tests.api.test_llm_api import openai_client
from tests.api.test_runs import Chat, new_chat
from tests.client import ApiClient, assert_error


@pytest.fixture
async def chat(tenant_a: ApiClient) -> Chat:
    return await new_chat(tenant_a)


async def test_agents_are_listed_with_their_schemas(tenant_a: ApiClient) -> None:
    listed = (await tenant_a.expect(200, "GET", "/v1/agents"))["agents"]
    by_name = {agent["name"]: agent for agent in listed}
    assert set(by_name) == {"compliance", "sentiment", "intent", "memory", "products", "sales"}
    assert "text" in by_name["intent"]["input_schema"]["properties"]
    assert "invitation" in by_name["intent"]["output_schema"]["properties"]
    assert by_name["products"]["deployment"] == "Product"


async def test_one_agent_runs_alone_on_its_input(tenant_a: ApiClient) -> None:
    intent = await tenant_a.expect(200, "POST", "/v1/agents/intent/invoke",
                                   json={"text": "明天下午3点来面诊", "now": "2026-03-10T10:00:00+08:00"})
    assert intent["time"].startswith("2026-03-11T15:00") and intent["appointment"] is True
    sentiment = await tenant_a.expect(200, "POST", "/v1/agents/sentiment/invoke", json={"text": "等了一个小时还没轮到我，太差劲了。"})
    assert sentiment["label"] == "negative"


async def test_invoked_retrieval_agents_see_only_the_callers_tenant(chat: Chat, tenant_b: ApiClient) -> None:
    mine = await chat.client.expect(200, "POST", "/v1/agents/products/invoke", json={"query": "补水", "k": 3})
    assert mine["products"][0]["product_id"] == "hydra-01"
    theirs = await tenant_b.expect(200, "POST", "/v1/agents/products/invoke", json={"query": "补水", "k": 3})
    assert theirs["products"] == []


async def test_invoke_errors_are_404_and_422_in_the_envelope(tenant_a: ApiClient) -> None:
    assert_error(await tenant_a.post("/v1/agents/nope/invoke", json={}), 404, "AGENT_NOT_FOUND")
    error = assert_error(await tenant_a.post("/v1/agents/intent/invoke", json={"txt": "hi"}), 422, "VALIDATION_ERROR")
    assert ["body", "text"] in [f["loc"] for f in error["details"]["fields"]]


async def test_agents_need_tenant_admin(tenant_a: ApiClient) -> None:
    chat_only = await tenant_a.as_key("tenant-a", [TENANT_CHAT])
    assert_error(await chat_only.get("/v1/agents"), 403, "INSUFFICIENT_SCOPES")


async def test_brands_check_copy_and_get_a_compliant_rewrite(tenant_a: ApiClient) -> None:
    chat_only = await tenant_a.as_key("tenant-a", [TENANT_CHAT])
    checked = await chat_only.expect(200, "POST", "/v1/compliance/check",
                                     json={"text": "我们的热玛吉全国最好，保证永久有效！", "channel": "ad"})
    assert checked["verdict"] == "blocked"
    assert {"absolute_terms", "efficacy_guarantee"} <= {v["category"] for v in checked["violations"]}
    violation = checked["violations"][0]
    assert "我们的热玛吉全国最好，保证永久有效！"[violation["span"]["start"]:violation["span"]["end"]] == violation["span"]["text"]
    again = await chat_only.expect(200, "POST", "/v1/compliance/check", json={"text": checked["rewritten"], "channel": "ad"})
    assert again["verdict"] == "approved"
    clean = await chat_only.expect(200, "POST", "/v1/compliance/check", json={"text": "效果因人而异，需医生面诊评估。"})
    assert clean == {**clean, "verdict": "approved", "violations": []}
    assert_error(await chat_only.post("/v1/compliance/check", json={"text": ""}), 422, "VALIDATION_ERROR")


async def test_an_assistant_id_as_model_runs_the_graph_on_the_thread(chat: Chat) -> None:
    client = openai_client(chat.client)
    completion = await client.chat.completions.create(
        model=chat.assistant_id, user=chat.thread_id, messages=[{"role": "user", "content": "皮肤干燥，想补水"}])
    reply = completion.choices[0].message.content
    assert "补水嫩肤疗程" in reply and completion.model == chat.assistant_id
    stream = await client.chat.completions.create(
        model=chat.assistant_id, messages=[{"role": "user", "content": "皮肤干燥，想补水"}, {"role": "assistant", "content": reply},
                                           {"role": "user", "content": "多少钱？"}],
        stream=True, extra_headers={"X-MAS-Thread-ID": chat.thread_id})
    streamed = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    messages = (await chat.client.expect(200, "GET", chat.url("messages")))["messages"]
    assert [m["content"] for m in messages] == [streamed, "多少钱？", reply, "皮肤干燥，想补水"]


async def test_an_assistant_run_without_a_thread_is_400(chat: Chat) -> None:
    response = await chat.client.post("/v1/chat/completions", json={"model": chat.assistant_id, "messages": [{"role": "user", "content": "hi"}]})
    assert_error(response, 400, "THREAD_REQUIRED")
    response = await chat.client.post("/v1/chat/completions", json={
        "model": chat.assistant_id, "user": "no-such-thread", "messages": [{"role": "user", "content": "hi"}]})
    assert_error(response, 404, "THREAD_NOT_FOUND")


async def test_an_llm_alias_as_model_still_calls_the_router_directly(chat: Chat) -> None:
    response = await chat.client.post("/v1/chat/completions", json={"model": "chat-default", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200 and response.json()["model"] == "offline"
    assert (await chat.client.expect(200, "GET", chat.url("messages")))["messages"] == []

