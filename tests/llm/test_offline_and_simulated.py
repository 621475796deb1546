"""The offline provider, minimal schema instances, and the simulated provider for load tests."""

from __future__ import annotations

import json
import time

import pytest
from jsonschema import Draft202012Validator

from llm.errors import LLMTimeout, ProviderRateLimited, ProviderServerError
from llm.providers.base import ProviderRequest, ProviderSpec, build_provider, collect
from llm.router import Router
from llm.structured import minimal_instance
from llm.types import ChatMessage
from runtime.settings import Settings
from tests.llm.doubles import ask, catalog

USER = [ChatMessage(role="user", content="最近皮肤很干，有什么推荐？")]
LLM_WORDS = ("AI", "人工智能", "语言模型", "大模型", "机器人")


async def offline_answer(messages: list[ChatMessage]) -> str:
    provider = build_provider(ProviderSpec(name="offline", type="offline"))
    return (await provider.complete(ProviderRequest(model="offline", messages=messages))).content


async def test_it_answers_the_last_user_message_without_claiming_to_be_an_llm() -> None:
    earlier = [ChatMessage(role="user", content="水光针多少钱"), ChatMessage(role="assistant", content="...")]
    reply = await offline_answer([*earlier, ChatMessage(role="user", content="光子嫩肤呢")])
    assert "光子嫩肤呢" in reply and "水光针" not in reply
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
    request = ProviderRequest(model="offline", messages=USER)
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
    settings = Settings()  # the settings tree reads the environment
    assert settings.simulated_overrides() == {"ttft_ms": 0.0, "tokens_per_s": 0.0, "output_tokens": 5}
    llm = Router.from_settings(settings, environ={})
    response = await llm.complete(ask(model="simulated"))
    assert (response.model, len(response.content), response.usage.output_tokens) == ("simulated-chat", 5, 5)
    await llm.close()
