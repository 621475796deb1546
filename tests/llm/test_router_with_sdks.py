"""The router built from a models.yaml (``Router.from_settings``) with real SDK clients calling the fake servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from llm.errors import NoOpenAIRoute, UnknownModel
from llm.router import Router
from llm.settings import LLMSettings
from tests.config_paths import CONFIG_DIR
from tests.llm.doubles import ask
from tests.llm.fake_servers import FakeAnthropicServer, FakeOpenAIServer, Reply

CATALOG = {
    "defaults": {
        "alias": "main",
        "timeouts": {"first_token_s": 1, "total_s": 2},
        "retry": {"max_retries": 1, "base_delay_s": 0.01, "max_delay_s": 0.05},
    },
    "providers": [
        {"name": "openai", "type": "openai", "api_key_env": "TEST_OPENAI_KEY", "base_url_env": "TEST_OPENAI_URL"},
        {"name": "anthropic", "type": "anthropic", "api_key_env": "TEST_ANTHROPIC_KEY", "base_url_env": "TEST_ANTHROPIC_URL"},
        {"name": "offline", "type": "offline"},
    ],
    "models": [
        {"name": "gpt", "provider": "openai", "model": "gpt-upstream", "context_window": 128000,
         "input_usd_per_mtok": 0.15, "output_usd_per_mtok": 0.60, "timeouts": {"first_token_s": 0.1}},
        {"name": "claude", "provider": "anthropic", "context_window": 200000},
        {"name": "offline", "provider": "offline", "context_window": 32768},
    ],
    "aliases": [
        {"name": "main", "fallback": ["gpt", "claude", "offline"]},
        {"name": "no-openai", "fallback": ["claude", "offline"]},
    ],
}  # fmt: skip
SCORE = {"type": "object", "required": ["score"], "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}}}


@pytest.fixture
async def llm(tmp_path: Path, openai_server: FakeOpenAIServer, anthropic_server: FakeAnthropicServer) -> AsyncIterator[Router]:
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(CATALOG))
    environ = {
        "TEST_OPENAI_KEY": "sk-test",
        "TEST_OPENAI_URL": f"{openai_server.url}/v1",
        "TEST_ANTHROPIC_KEY": "sk-ant-test",
        "TEST_ANTHROPIC_URL": anthropic_server.url,
    }
    router = Router.from_settings(LLMSettings(models_config=path), environ=environ)
    yield router
    await router.close()


async def test_a_rate_limited_call_is_retried_and_costed(llm: Router, openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Reply.error(429, "slow down", retry_after=0), Reply(text="您好！", usage=(1000, 200)))
    response = await llm.complete(ask())

    assert (response.model, response.content) == ("gpt", "您好！")
    assert [attempt.ok for attempt in response.attempts] == [False, True]
    assert [request["model"] for request in openai_server.requests] == ["gpt-upstream", "gpt-upstream"]
    assert response.cost_usd == pytest.approx(1000 * 0.15e-6 + 200 * 0.60e-6)


async def test_server_errors_fall_back_from_openai_to_anthropic(
    llm: Router, openai_server: FakeOpenAIServer, anthropic_server: FakeAnthropicServer
) -> None:
    openai_server.script(Reply.error(500, "down"))
    anthropic_server.script(Reply(text="这里是备用模型", usage=(30, 8)))
    response = await llm.complete(ask())
    assert (response.model, response.provider, response.content) == ("claude", "anthropic", "这里是备用模型")
    assert len(openai_server.requests) == 2  # one retry, then fallback

    events = [event async for event in llm.stream(ask())]
    assert "".join(event.delta for event in events) == "这里是备用模型"
    assert events[-1].response.model == "claude" and events[-1].response.usage.output_tokens == 8


async def test_a_late_first_token_moves_the_stream_to_the_next_model(
    llm: Router, openai_server: FakeOpenAIServer, anthropic_server: FakeAnthropicServer
) -> None:
    openai_server.script(Reply(text="太慢了", delay_s=0.3))
    anthropic_server.script(Reply(text="及时的回答"))
    events = [event async for event in llm.stream(ask())]
    response = events[-1].response
    assert response.content == "及时的回答" and response.model == "claude"
    assert all("first token" in attempt.error for attempt in response.attempts if not attempt.ok)


async def test_when_every_model_fails_offline_still_answers(
    llm: Router, openai_server: FakeOpenAIServer, anthropic_server: FakeAnthropicServer
) -> None:
    openai_server.script(Reply.error(401, "bad key"))
    anthropic_server.script(Reply(raw_body="<html>gateway</html>"))
    response = await llm.complete(ask("想了解光子嫩肤"))
    assert response.model == "offline" and "光子嫩肤" in response.content and response.cost_usd == 0


async def test_responses_and_stream_events_say_when_no_real_model_answered(
    llm: Router, openai_server: FakeOpenAIServer, anthropic_server: FakeAnthropicServer
) -> None:
    openai_server.script(Reply(text="您好！"))
    answered = await llm.complete(ask())
    streamed = [event async for event in llm.stream(ask())]
    assert answered.model == "gpt" and not answered.offline
    assert streamed[-1].response.model == "gpt" and not any(event.offline for event in streamed)

    openai_server.script(Reply.error(401, "bad key"))
    anthropic_server.script(Reply.error(400, "bad request"))
    fell_back = await llm.complete(ask())
    streamed = [event async for event in llm.stream(ask())]
    assert fell_back.model == "offline" and fell_back.offline
    assert streamed[-1].response.offline and len(streamed) > 1 and all(event.offline for event in streamed)


async def test_structured_output_is_repaired_through_the_real_sdk(llm: Router, openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Reply(text='{"score": 9}'), Reply(text='{"score": 4}'))
    response = await llm.complete(ask("给这段对话打分", json_schema=SCORE))
    assert response.data == {"score": 4}
    repair = openai_server.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"score": 9}'} and "maximum" in repair[-1]["content"]


async def test_responses_passthrough_uses_an_openai_route(llm: Router, openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Reply(text="好的", usage=(100, 50)))
    body = await llm.responses({"model": "main", "input": "你好"}, tenant_id="t-responses")
    assert openai_server.requests[0]["model"] == "gpt-upstream"
    assert body["output"][0]["content"][0]["text"] == "好的"
    assert body["mas"]["model"] == "gpt" and body["mas"]["cost_usd"] == pytest.approx(100 * 0.15e-6 + 50 * 0.60e-6)

    with pytest.raises(NoOpenAIRoute) as raised:
        await llm.responses({"model": "no-openai", "input": "你好"}, tenant_id=None)
    assert raised.value.status == 400
    with pytest.raises(UnknownModel):
        await llm.responses({"model": "not-in-the-catalog", "input": "你好"}, tenant_id=None)


async def test_with_nothing_configured_chat_default_is_the_offline_provider() -> None:
    router = Router.from_settings(LLMSettings(models_config=CONFIG_DIR / "models.yaml"), environ={})
    response = await router.complete(ask("水光针多少钱"))
    assert (response.model, response.provider, response.offline) == ("offline", "offline", True)
    listed = {info.id for info in await router.models()}
    assert "chat-default" in listed and "offline" in listed and "gpt-4o-mini" not in listed
    assert "MAS_OPENAI_API_KEY" in router.unconfigured["openai"]
    for model in (None, "gpt-4o-mini", "not-in-the-catalog"):
        with pytest.raises(NoOpenAIRoute):
            await router.responses({"model": model, "input": "hi"}, tenant_id=None)
    await router.close()
