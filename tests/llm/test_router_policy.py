"""Routing policy with scripted providers: fallback order, retries and backoff, cooldown, context windows,
timeouts, tenant limits, cost, structured-output repair and streaming fallback. No real sleeping: the clock is fake.
"""

from __future__ import annotations

import pickle

import pytest

from llm.errors import (
    AllRoutesFailed,
    ContextWindowExceeded,
    InvalidLLMRequest,
    LLMError,
    LLMTimeout,
    ProviderMalformedOutput,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
    StructuredOutputInvalid,
    TenantRateLimited,
    UnknownModel,
)
from llm.providers.base import ProviderResult
from llm.types import Usage
from tests.llm.doubles import FailMidStream, FakeClock, Hang, ScriptedProvider, ask, catalog, router

THREE = [{"name": "m1", "provider": "p1"}, {"name": "m2", "provider": "p2"}, {"name": "m3", "provider": "p3"}]
MAIN = [{"name": "main", "fallback": ["m1", "m2", "m3"]}]
NO_RETRY = {"retry": {"max_retries": 0}}
SCORE = {"type": "object", "required": ["score"], "properties": {"score": {"type": "integer"}}}


def providers(*first: ScriptedProvider) -> list[ScriptedProvider]:
    given = {provider.name: provider for provider in first}
    return [given.get(name, ScriptedProvider(name, f"answer from {name}")) for name in ("p1", "p2", "p3")]


async def test_falls_back_in_alias_order_and_lists_every_attempt() -> None:
    p1, p2, p3 = providers(ScriptedProvider("p1", ProviderRejected("401 bad key", status=401)))
    response = await router(catalog(THREE, MAIN), p1, p2, p3).complete(ask())

    assert (response.model, response.provider, response.content) == ("m2", "p2", "answer from p2")
    assert [(a.model, a.ok) for a in response.attempts] == [("m1", False), ("m2", True)]
    assert "bad key" in response.attempts[0].error
    assert len(p1.requests) == 1, "a non-retryable error must not be retried"
    assert p3.requests == []


async def test_retryable_errors_are_retried_with_exponential_backoff_and_jitter_then_fall_back() -> None:
    clock = FakeClock()
    p1, p2, p3 = providers(ScriptedProvider("p1", ProviderServerError("503", status=503)))
    policy = {"retry": {"max_retries": 2, "base_delay_s": 1.0, "max_delay_s": 30}}
    response = await router(catalog(THREE, MAIN, **policy), p1, p2, p3, clock=clock).complete(ask())

    assert response.model == "m2"
    assert len(p1.requests) == 3
    first, second = clock.sleeps
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0  # ceilings 1 s then 2 s, at least half of each

    other = FakeClock()
    p1, p2, p3 = providers(ScriptedProvider("p1", ProviderServerError("503", status=503)))
    await router(catalog(THREE, MAIN, **policy), p1, p2, p3, clock=other, seed=99).complete(ask())
    assert other.sleeps != clock.sleeps, "jitter: another seed, other delays"


async def test_retry_after_from_a_rate_limit_is_honoured_up_to_the_cap() -> None:
    clock = FakeClock()
    p1, p2, p3 = providers(ScriptedProvider("p1", ProviderRateLimited("429", retry_after=5), ProviderRateLimited("429", retry_after=99), "ok"))
    policy = {"retry": {"max_retries": 2, "base_delay_s": 0.1, "max_delay_s": 8}}
    response = await router(catalog(THREE, MAIN, **policy), p1, p2, p3, clock=clock).complete(ask())

    assert response.model == "m1" and response.content == "ok"
    assert clock.sleeps == [5, 8]
    assert [a.ok for a in response.attempts] == [False, False, True]


async def test_malformed_output_falls_back_without_retrying() -> None:
    p1, p2, p3 = providers(ScriptedProvider("p1", ProviderMalformedOutput("no choices")))
    response = await router(catalog(THREE, MAIN), p1, p2, p3).complete(ask())
    assert response.model == "m2" and len(p1.requests) == 1


async def test_all_routes_failed_lists_the_attempts() -> None:
    failing = [ScriptedProvider(f"p{i}", ProviderRejected(f"denied {i}", status=403)) for i in (1, 2, 3)]
    with pytest.raises(AllRoutesFailed) as raised:
        await router(catalog(THREE, MAIN), *failing).complete(ask())
    assert raised.value.status == 502
    assert [attempt["model"] for attempt in raised.value.details["attempts"]] == ["m1", "m2", "m3"]
    assert "denied 3" in raised.value.message


async def test_cooldown_skips_a_failing_model_then_lets_one_probe_through() -> None:
    clock = FakeClock()
    p1, p2, p3 = providers(ScriptedProvider("p1", ProviderServerError("500")))
    policy = {**NO_RETRY, "cooldown": {"failures": 3, "window_s": 60, "cooldown_s": 30}}
    llm = router(catalog(THREE, MAIN, **policy), p1, p2, p3, clock=clock)

    for _ in range(3):
        assert (await llm.complete(ask())).model == "m2"
    assert len(p1.requests) == 3
    response = await llm.complete(ask())  # cooling: m1 is not even tried
    assert len(p1.requests) == 3 and [a.model for a in response.attempts] == ["m2"]

    clock.advance(30)  # the probe fails: straight back into cooldown
    await llm.complete(ask())
    await llm.complete(ask())
    assert len(p1.requests) == 4

    clock.advance(30)
    p1.script = ["recovered"]
    assert (await llm.complete(ask())).content == "recovered"
    assert (await llm.complete(ask())).model == "m1"


async def test_failures_outside_the_window_do_not_add_up_to_a_cooldown() -> None:
    clock = FakeClock()
    p1, p2, p3 = providers(ScriptedProvider("p1", ProviderServerError("500")))
    policy = {**NO_RETRY, "cooldown": {"failures": 3, "window_s": 60, "cooldown_s": 30}}
    llm = router(catalog(THREE, MAIN, **policy), p1, p2, p3, clock=clock)
    for _ in range(2):
        await llm.complete(ask())
    clock.advance(61)
    await llm.complete(ask())
    await llm.complete(ask())
    assert len(p1.requests) == 4


async def test_every_model_cooling_is_a_502_that_names_them() -> None:
    clock = FakeClock()
    only = [{"name": "m1", "provider": "p1"}]
    llm = router(catalog(only, [{"name": "main", "fallback": ["m1"]}], **NO_RETRY), ScriptedProvider("p1", ProviderServerError("500")), clock=clock)
    for _ in range(3):
        with pytest.raises(AllRoutesFailed):
            await llm.complete(ask())
    with pytest.raises(AllRoutesFailed) as raised:
        await llm.complete(ask())
    assert raised.value.details == {"attempts": [], "cooling": ["m1"]}


async def test_context_window_falls_back_to_a_larger_model() -> None:
    models = [{"name": "small", "provider": "p1", "context_window": 100}, {"name": "large", "provider": "p2", "context_window": 10_000}]
    small, large = ScriptedProvider("p1"), ScriptedProvider("p2")
    llm = router(catalog(models, [{"name": "main", "fallback": ["small", "large"]}]), small, large)

    assert (await llm.complete(ask("短问题"))).model == "small"
    assert (await llm.complete(ask("长" * 200))).model == "large"  # 200 CJK characters ≈ 200 tokens
    assert (await llm.complete(ask("短问题", max_tokens=120))).model == "large"  # room for the answer counts
    assert len(small.requests) == 1

    with pytest.raises(ContextWindowExceeded) as raised:
        await llm.complete(ask("长" * 20_000))
    assert raised.value.status == 400 and raised.value.details["largest_context_window"] == 10_000


async def test_a_hanging_model_times_out_and_falls_back() -> None:
    models = [{"name": "m1", "provider": "p1", "timeouts": {"total_s": 0.05}}, *THREE[1:]]
    p1, p2, p3 = providers(ScriptedProvider("p1", Hang()))
    response = await router(catalog(models, MAIN, **NO_RETRY), p1, p2, p3).complete(ask())
    assert response.model == "m2"
    assert "timed out" in response.attempts[0].error


async def test_all_attempts_timing_out_is_an_llm_timeout() -> None:
    hanging = [ScriptedProvider(f"p{i}", Hang()) for i in (1, 2, 3)]
    policy = {**NO_RETRY, "timeouts": {"first_token_s": 0.02, "total_s": 0.02}}
    with pytest.raises(LLMTimeout) as raised:
        await router(catalog(THREE, MAIN, **policy), *hanging).complete(ask())
    assert raised.value.status == 504 and len(raised.value.details["attempts"]) == 3


async def test_cost_is_tokens_times_price_per_million() -> None:
    priced = [{"name": "m1", "provider": "p1", "input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10.0}]
    p1 = ScriptedProvider("p1", usage=Usage(input_tokens=1200, output_tokens=300))
    response = await router(catalog(priced, [{"name": "main", "fallback": ["m1"]}]), p1).complete(ask())
    assert response.usage == Usage(input_tokens=1200, output_tokens=300)
    assert response.cost_usd == pytest.approx(1200 * 2.5e-6 + 300 * 10e-6)  # 0.006 USD


async def test_usage_is_estimated_when_the_provider_reports_none() -> None:
    p1 = ScriptedProvider("p1", "好的好的", usage=None)
    priced = [{"name": "m1", "provider": "p1", "output_usd_per_mtok": 1_000_000}]
    response = await router(catalog(priced, [{"name": "main", "fallback": ["m1"]}]), p1).complete(ask("你好"))
    assert response.usage.output_tokens == 4  # four CJK characters
    assert response.usage.input_tokens == 2 + 4  # two characters plus the per-message overhead
    assert response.cost_usd == pytest.approx(4.0)


async def test_tenant_request_limit_answers_429_with_retry_after() -> None:
    clock = FakeClock(now=6_000 + 45)  # 45 s into a minute window
    limits = {"default": {"requests_per_minute": 2}, "tenants": {"big": {"requests_per_minute": 5}}}
    llm = router(catalog(THREE, MAIN, limits=limits), *providers(), clock=clock)

    for _ in range(2):
        await llm.complete(ask(tenant_id="small"))
    with pytest.raises(TenantRateLimited) as raised:
        await llm.complete(ask(tenant_id="small"))
    assert raised.value.status == 429 and raised.value.retry_after == pytest.approx(15)
    for _ in range(5):
        await llm.complete(ask(tenant_id="big"))  # its own override
    await llm.complete(ask())  # no tenant: not limited
    clock.advance(15)
    await llm.complete(ask(tenant_id="small"))  # a new window


async def test_a_tenants_batch_jobs_have_its_limits_apart_from_its_live_traffic() -> None:
    limits = {"default": {"requests_per_minute": 2}, "tenants": {"big": {"requests_per_minute": 3}}}
    llm = router(catalog(THREE, MAIN, limits=limits), *providers())
    for _ in range(3):
        await llm.complete(ask(tenant_id="big", lane="batch"))  # the tenant's own limit, in the batch lane
    with pytest.raises(TenantRateLimited):
        await llm.complete(ask(tenant_id="big", lane="batch"))
    for _ in range(3):
        await llm.complete(ask(tenant_id="big"))  # live chat still has its whole budget


async def test_tenant_token_limit_counts_reported_usage() -> None:
    llm = router(catalog(THREE, MAIN, limits={"default": {"tokens_per_minute": 200}}), *providers())
    await llm.complete(ask(tenant_id="t"))  # each answer uses 120 tokens
    await llm.complete(ask(tenant_id="t"))
    with pytest.raises(TenantRateLimited) as raised:
        await llm.complete(ask(tenant_id="t"))
    assert raised.value.details["limit"] == "tokens_per_minute"


async def test_structured_output_is_validated_and_repaired_once() -> None:
    p1, p2, p3 = providers(ScriptedProvider("p1", '{"score": "high"}', '```json\n{"score": 3}\n```'))
    response = await router(catalog(THREE, MAIN), p1, p2, p3).complete(ask("打分", json_schema=SCORE))

    assert response.data == {"score": 3} and response.model == "m1"
    assert response.usage == Usage(input_tokens=200, output_tokens=40)  # both calls are paid for
    repair = p1.requests[1].messages
    assert repair[-2].role == "assistant" and repair[-2].content == '{"score": "high"}'
    assert "score" in repair[-1].content and "not of type 'integer'" in repair[-1].content


async def test_structured_output_still_invalid_after_repair_is_a_502() -> None:
    p1, p2, p3 = providers(ScriptedProvider("p1", "not json at all"))
    with pytest.raises(StructuredOutputInvalid) as raised:
        await router(catalog(THREE, MAIN), p1, p2, p3).complete(ask(json_schema=SCORE))
    assert raised.value.status == 502 and "not valid JSON" in raised.value.details["problem"]
    assert len(p1.requests) == 2 and p2.requests == []


async def test_an_invalid_schema_is_a_400() -> None:
    with pytest.raises(InvalidLLMRequest):
        await router(catalog(THREE, MAIN), *providers()).complete(ask(json_schema={"type": "no-such-type"}))


async def test_stream_yields_deltas_then_the_response() -> None:
    p1, p2, p3 = providers(ScriptedProvider("p1", "你好，欢迎光临"))
    events = [event async for event in router(catalog(THREE, MAIN), p1, p2, p3).stream(ask())]
    *deltas, last = events
    assert "".join(event.delta for event in deltas) == "你好，欢迎光临" and len(deltas) > 1
    assert last.response.content == "你好，欢迎光临" and last.response.usage == Usage(input_tokens=100, output_tokens=20)


async def test_stream_falls_back_when_the_first_token_is_late() -> None:
    policy = {**NO_RETRY, "timeouts": {"first_token_s": 0.03, "total_s": 5}}
    p1, p2, p3 = providers(ScriptedProvider("p1", Hang()))
    events = [event async for event in router(catalog(THREE, MAIN, **policy), p1, p2, p3).stream(ask())]
    assert events[-1].response.model == "m2"
    assert "first token" in events[-1].response.attempts[0].error


async def test_stream_does_not_fall_back_after_the_first_delta() -> None:
    p1, p2, p3 = providers(ScriptedProvider("p1", FailMidStream("半句", ProviderServerError("reset"))))
    received = []
    with pytest.raises(AllRoutesFailed) as raised:
        async for event in router(catalog(THREE, MAIN, **NO_RETRY), p1, p2, p3).stream(ask()):
            received.append(event.delta)
    assert received == ["半句"] and p2.requests == []
    assert raised.value.details["attempts"][0]["ok"] is False


async def test_stream_with_a_schema_sends_the_validated_answer() -> None:
    p1, p2, p3 = providers(ScriptedProvider("p1", '{"score": 5}'))
    events = [event async for event in router(catalog(THREE, MAIN), p1, p2, p3).stream(ask(json_schema=SCORE))]
    assert events[0].delta == '{"score": 5}' and events[-1].response.data == {"score": 5}


async def test_weighted_alias_splits_traffic_by_weight_and_keeps_the_rest_as_fallback() -> None:
    weighted = [{"name": "main", "weighted": {"m1": 3, "m2": 1, "m3": 0}}]
    p1, p2, p3 = providers()
    llm = router(catalog(THREE, weighted), p1, p2, p3, seed=42)
    picked = [(await llm.complete(ask())).model for _ in range(400)]
    assert 0.68 < picked.count("m1") / 400 < 0.82 and "m3" not in picked

    down = [ScriptedProvider(name, ProviderRejected("no", status=403)) for name in ("p1", "p2")]
    response = await router(catalog(THREE, weighted), *down, p3).complete(ask())
    assert response.model == "m3", "a zero-weight model is the last fallback"


async def test_unknown_and_unconfigured_names_are_404() -> None:
    aliases = [*MAIN, {"name": "elsewhere", "fallback": ["m3"]}]
    llm = router(catalog(THREE, aliases), ScriptedProvider("p1"), ScriptedProvider("p2"))  # p3 not configured
    with pytest.raises(UnknownModel):
        await llm.complete(ask(model="gpt-9"))
    with pytest.raises(UnknownModel) as raised:
        await llm.complete(ask(model="elsewhere"))
    assert raised.value.status == 404 and "no configured model" in raised.value.message
    assert (await llm.complete(ask(model="m2"))).model == "m2"  # a model by name
    assert (await llm.complete(ask())).model == "m1"  # None -> the default alias


async def test_models_lists_only_what_can_be_routed() -> None:
    models = [*THREE[:2], {"name": "m3", "provider": "p3", "context_window": 50_000}]
    aliases = [{"name": "main", "fallback": ["m1", "m3"]}, {"name": "elsewhere", "fallback": ["m2"]}]
    llm = router(catalog(models, aliases), ScriptedProvider("p1"), ScriptedProvider("p3"))
    listed = {(info.id, info.kind, info.provider, info.context_window) for info in await llm.models()}
    assert listed == {("main", "alias", None, 50_000), ("m1", "model", "p1", 8000), ("m3", "model", "p3", 50_000)}


async def test_close_closes_every_provider() -> None:
    built = providers()
    await router(catalog(THREE, MAIN), *built).close()
    assert all(provider.closed for provider in built)


async def test_tool_calls_come_back_on_the_response() -> None:
    from llm.types import ToolCall

    call = ToolCall(id="c1", name="book", arguments='{"time": "明天下午3点"}')
    p1, p2, p3 = providers(ScriptedProvider("p1", ProviderResult(tool_calls=[call], finish_reason="tool_calls")))
    response = await router(catalog(THREE, MAIN), p1, p2, p3).complete(ask())
    assert response.tool_calls == [call] and response.finish_reason == "tool_calls"


@pytest.mark.parametrize("error", [TenantRateLimited("slow down", details={"tenant_id": "t"}, retry_after=12.0), LLMTimeout("late")])
def test_llm_errors_survive_pickling(error: LLMError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (copy.status, copy.code, copy.message, copy.details, copy.retry_after) == (
        error.status,
        error.code,
        error.message,
        error.details,
        error.retry_after,
    )


async def test_responses_and_stream_events_survive_pickling() -> None:
    events = [event async for event in router(catalog(THREE, MAIN), *providers()).stream(ask())]
    assert [pickle.loads(pickle.dumps(event)) for event in events] == events
    assert pickle.loads(pickle.dumps(ask(tenant_id="t"))) == ask(tenant_id="t")
