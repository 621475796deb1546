"""The offline composer and provider, minimal schema instances, and the simulated provider for load tests."""

from __future__ import annotations

import json
import time

import pytest
from jsonschema import Draft202012Validator

from llm.composer import FORBIDDEN_CLAIMS, compose_reply
from llm.errors import LLMTimeout, ProviderRateLimited, ProviderServerError
from llm.providers.base import ProviderRequest, ProviderSpec, build_provider, collect
from llm.router import Router
from llm.settings import LLMSettings
from llm.structured import minimal_instance
from llm.types import ChatMessage, ComposeContext, ComposeProduct
from tests.llm.doubles import ask, catalog

HYDRA = ComposeProduct(name="水光针", price=1280, reason="补水保湿，适合干燥缺水的肌肤")
PHOTO = ComposeProduct(name="光子嫩肤", price=980.5, description="改善暗沉和细纹")
USER = [ChatMessage(role="user", content="最近皮肤很干，有什么推荐？")]
LLM_WORDS = ("AI", "人工智能", "语言模型", "大模型", "机器人")


def test_the_reply_uses_what_the_agents_found() -> None:
    context = ComposeContext(
        assistant_name="小美",
        persona="医美顾问",
        customer_name="王女士",
        products=[HYDRA, PHOTO],
        memories=["上次说对酒精过敏"],
        appointment="明天下午3点",
    )
    reply = compose_reply(context, USER)

    assert reply.startswith("王女士您好，我是小美（医美顾问）。")
    assert "1. 水光针（参考价 ¥1,280）：补水保湿，适合干燥缺水的肌肤" in reply
    assert "2. 光子嫩肤（参考价 ¥980）：改善暗沉和细纹" in reply
    assert "上次说对酒精过敏" in reply and "已为您记下明天下午3点的到店时间" in reply
    assert reply == compose_reply(context, USER), "deterministic"


def test_negative_sentiment_softens_and_a_missing_time_is_asked_for() -> None:
    reply = compose_reply(ComposeContext(sentiment="negative", ask_for_time=True, customer_message="上次做完脸红了好几天"), USER)
    assert "抱歉" in reply and "哪天有空" in reply and "上次做完脸红了好几天" in reply


def test_a_safe_reply_is_used_verbatim() -> None:
    safe = "抱歉，这个问题我无法回答，建议咨询医生。"
    assert compose_reply(ComposeContext(safe_reply=safe, products=[HYDRA]), USER) == safe


def test_without_context_it_answers_the_last_user_message() -> None:
    reply = compose_reply(None, [ChatMessage(role="user", content="水光针多少钱"), ChatMessage(role="assistant", content="..."),
                                 ChatMessage(role="user", content="光子嫩肤呢")])  # fmt: skip
    assert "光子嫩肤呢" in reply and "水光针" not in reply


@pytest.mark.parametrize(
    "context",
    [
        ComposeContext(products=[ComposeProduct(name="热玛吉", price=19800, reason="效果最好，保证根治皱纹，无副作用")]),
        ComposeContext(products=[ComposeProduct(name="第一品牌玻尿酸")], memories=["想要永久效果"], customer_message="哪个最好"),
        ComposeContext(assistant_name="全国第一顾问", persona="绝对专业", customer_name="小李", appointment="保证明天", ask_for_time=True),
        None,
    ],
)
def test_no_reply_makes_an_absolute_claim_or_claims_to_be_an_llm(context: ComposeContext | None) -> None:
    reply = compose_reply(context, [ChatMessage(role="user", content="哪个项目效果最好？保证有效吗？")])
    assert not [claim for claim in FORBIDDEN_CLAIMS if claim in reply], reply
    assert not [word for word in LLM_WORDS if word in reply], reply
    assert len(reply) > 10


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "required": ["label", "score"],
         "properties": {"label": {"enum": ["hot", "warm", "cold"]}, "score": {"type": "integer", "minimum": 1, "maximum": 5}}},
        {"type": "object", "required": ["tags", "summary", "meta"], "properties": {
            "tags": {"type": "array", "items": {"type": "string", "minLength": 2}, "minItems": 3},
            "summary": {"type": "string", "default": "暂无"},
            "meta": {"type": "object", "required": ["ok", "ratio", "note"], "properties": {
                "ok": {"type": "boolean"}, "ratio": {"type": "number", "exclusiveMinimum": 0},
                "note": {"type": ["null", "string"]}}}}},
        {"anyOf": [{"type": "string", "const": "x"}, {"type": "integer"}]},
        {"type": "array", "items": {"type": "integer", "maximum": -3}, "minItems": 2},
    ],
)  # fmt: skip
def test_minimal_instances_are_valid(schema: dict) -> None:
    instance = minimal_instance(schema)
    assert list(Draft202012Validator(schema).iter_errors(instance)) == []


async def test_offline_provider_streams_what_it_completes() -> None:
    provider = build_provider(ProviderSpec(name="offline", type="offline"))
    request = ProviderRequest(model="offline", messages=USER, context=ComposeContext(products=[HYDRA]))
    chunks = [chunk async for chunk in provider.stream(request)]
    assert len(chunks) > 3 and "".join(chunk.delta for chunk in chunks) == (await provider.complete(request)).content

    schema = {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}
    structured = await provider.complete(request.model_copy(update={"json_schema": schema}))
    assert json.loads(structured.content) == {"ok": False}


def simulated(defaults: dict, overrides: dict | None = None) -> object:
    return build_provider(ProviderSpec(name="sim", type="simulated", options=defaults, overrides=overrides or {}))


def sim_request(**options: object) -> ProviderRequest:
    return ProviderRequest(model="sim", messages=USER, options=options)


async def test_simulated_time_to_first_token_and_token_rate() -> None:
    provider = simulated({"ttft_ms": 60, "tokens_per_s": 200, "output_tokens": 11})
    started = time.perf_counter()
    chunks = provider.stream(sim_request())
    await anext(chunks)
    first_token = time.perf_counter() - started
    result = await collect(chunks)
    total = time.perf_counter() - started

    assert 0.06 <= first_token < 0.5
    assert total - first_token >= 10 / 200  # ten more tokens at 200 tokens/s
    assert len(result.content) == 10 and result.usage.output_tokens == 11 and result.usage.input_tokens > 0


async def test_simulated_options_layer_provider_then_model_then_overrides() -> None:
    provider = simulated({"ttft_ms": 0, "tokens_per_s": 0, "output_tokens": 50}, overrides={"output_tokens": 4})
    assert provider.config(sim_request(output_tokens=8, seed=3)).output_tokens == 4
    assert len((await provider.complete(sim_request(output_tokens=8))).content) == 4
    assert len((await simulated({"ttft_ms": 0, "tokens_per_s": 0}).complete(sim_request(output_tokens=8))).content) == 8
    capped = await simulated({"ttft_ms": 0, "tokens_per_s": 0}).complete(sim_request().model_copy(update={"max_tokens": 3}))
    assert len(capped.content) == 3


async def test_simulated_faults_follow_the_rates_and_the_seed() -> None:
    fast = {"ttft_ms": 0, "tokens_per_s": 0}
    with pytest.raises(ProviderServerError):
        await simulated({**fast, "error_rate": 1}).complete(sim_request())
    with pytest.raises(ProviderRateLimited) as raised:
        await simulated({**fast, "rate_limit_rate": 1}).complete(sim_request())
    assert raised.value.retry_after == 1.0

    async def outcomes(seed: int) -> list[bool]:
        provider = simulated({**fast, "error_rate": 0.5, "seed": seed})
        results = []
        for _ in range(30):
            try:
                await provider.complete(sim_request())
                results.append(True)
            except ProviderServerError:
                results.append(False)
        return results

    first = await outcomes(5)
    assert first == await outcomes(5) and 5 < first.count(False) < 25


async def test_a_simulated_timeout_hangs_until_the_router_gives_up() -> None:
    models = [{"name": "sim", "provider": "sim"}]
    policy = {"retry": {"max_retries": 0}, "timeouts": {"first_token_s": 0.05, "total_s": 0.05}}
    llm = Router(catalog(models, [{"name": "main", "fallback": ["sim"]}], **policy), {"sim": simulated({"ttft_ms": 0, "timeout_rate": 1})})
    with pytest.raises(LLMTimeout):
        await llm.complete(ask())


async def test_simulated_env_overrides_reach_the_router(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAS_SIMULATED_TTFT_MS", "0")
    monkeypatch.setenv("MAS_SIMULATED_TOKENS_PER_S", "0")
    monkeypatch.setenv("MAS_SIMULATED_OUTPUT_TOKENS", "5")
    settings = LLMSettings()
    assert settings.simulated_overrides() == {"ttft_ms": 0.0, "tokens_per_s": 0.0, "output_tokens": 5}
    llm = Router.from_settings(settings, environ={})
    response = await llm.complete(ask(model="simulated"))
    assert (response.model, len(response.content), response.usage.output_tokens) == ("simulated-chat", 5, 5)
    await llm.close()
