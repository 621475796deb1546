"""The LLM endpoints routed to a real OpenAI-wire server (a local fake): fallback, costs, failures, tenant limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_llm_api import openai_client
from tests.client import ApiClient, assert_error
from tests.llm.fake_servers import FakeOpenAIServer, Reply, route_to

CATALOG = {
    "defaults": {
        "alias": "main",
        "timeouts": {"first_token_s": 2, "total_s": 5},
        "retry": {"max_retries": 1, "base_delay_s": 0.01, "max_delay_s": 0.05},
    },
    "limits": {"default": {"requests_per_minute": 100, "tokens_per_minute": 100000}, "tenants": {"tenant-b": {"requests_per_minute": 2}}},
    "providers": [
        {"name": "upstream", "type": "openai_compatible", "api_key_env": "TEST_UPSTREAM_KEY", "base_url_env": "TEST_UPSTREAM_URL"},
        {"name": "offline", "type": "offline"},
    ],
    "models": [
        {"name": "qwen", "provider": "upstream", "model": "qwen-upstream", "context_window": 32000,
         "input_usd_per_mtok": 2.0, "output_usd_per_mtok": 10.0},
        {"name": "offline", "provider": "offline", "context_window": 32768},
    ],
    "aliases": [
        {"name": "main", "fallback": ["qwen", "offline"]},
        {"name": "only-upstream", "fallback": ["qwen"]},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(autouse=True)
def routed_to_upstream(tmp_path: Path, upstream: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs before the ``api`` fixture builds the app, whose router reads the catalog and keys from the environment."""
    route_to(upstream, CATALOG, tmp_path, monkeypatch)


async def test_answers_come_from_the_routed_model_with_their_cost(tenant_a: ApiClient, upstream: FakeOpenAIServer) -> None:
    upstream.script(Reply(text="您好，补水项目推荐水光类疗程。", usage=(1000, 200)))
    body = await tenant_a.expect(200, "POST", "/v1/messages", json={"message": "推荐补水项目", "system_prompt": "你是美容顾问"})
    assert (body["content"], body["model"], body["provider"]) == ("您好，补水项目推荐水光类疗程。", "qwen", "upstream")
    assert body["usage"] == {"input_tokens": 1000, "output_tokens": 200}
    assert body["cost_usd"] == pytest.approx(1000 * 2.0e-6 + 200 * 10.0e-6)
    sent = upstream.requests[-1]
    assert sent["model"] == "qwen-upstream" and sent["messages"][0] == {"role": "system", "content": "你是美容顾问"}


async def test_a_retryable_failure_is_retried_then_falls_back_to_the_next_model(tenant_a: ApiClient, upstream: FakeOpenAIServer) -> None:
    upstream.script(Reply.error(429, retry_after=0), Reply(text="重试后成功"))
    retried = await tenant_a.expect(200, "POST", "/v1/messages", json={"message": "你好"})
    assert (retried["content"], retried["fallbacks"]) == ("重试后成功", 1)
    upstream.script(Reply.error(500))
    fell_back = await tenant_a.expect(200, "POST", "/v1/messages", json={"message": "你好"})
    assert fell_back["model"] == "offline" and fell_back["fallbacks"] == 2


async def test_when_every_route_fails_the_client_gets_502_with_the_attempts(tenant_a: ApiClient, upstream: FakeOpenAIServer) -> None:
    upstream.script(Reply.error(503))
    error = assert_error(await tenant_a.post("/v1/messages", json={"message": "你好", "model": "only-upstream"}), 502, "ALL_ROUTES_FAILED")
    assert [a["model"] for a in error["details"]["attempts"]] == ["qwen", "qwen"]


async def test_a_tenant_over_its_limit_gets_429_with_retry_after_and_others_do_not(
    tenant_a: ApiClient, tenant_b: ApiClient, upstream: FakeOpenAIServer
) -> None:
    upstream.script(Reply(text="ok"))
    for _ in range(2):
        await tenant_b.expect(200, "POST", "/v1/messages", json={"message": "你好"})
    limited = await tenant_b.post("/v1/messages", json={"message": "你好"})
    assert_error(limited, 429, "TENANT_RATE_LIMITED")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    await tenant_a.expect(200, "POST", "/v1/messages", json={"message": "你好"})


async def test_openai_client_streams_the_upstream_text(tenant_a: ApiClient, upstream: FakeOpenAIServer) -> None:
    upstream.script(Reply(text="敏感肌建议先做修复类护理，再考虑光电项目。"))
    stream = await openai_client(tenant_a).chat.completions.create(model="main", messages=[{"role": "user", "content": "敏感肌"}], stream=True)
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "敏感肌建议先做修复类护理，再考虑光电项目。"
    assert chunks[-1].model == "qwen"
