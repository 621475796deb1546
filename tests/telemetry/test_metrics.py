"""The ``mas_`` metrics move where the facts happen, with bounded labels: the LLM router (requests, tokens, cost,
retries, fallbacks, cooldowns, tenant refusals, time to first token), compliance verdicts, the chat graph (per-agent
latency, degradations, the router's overhead), and runs (outcome, phases) through the in-process API."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from agents.compliance import ComplianceAgent, ComplianceInput
from agents.graph import AgentSet, ChatGraph, TurnInput
from agents.intent import IntentAgent
from agents.sales import AssistantProfile
from agents.sentiment import SentimentAgent
from llm.errors import ProviderRejected, ProviderServerError, TenantRateLimited
from telemetry import metrics
from tests.agents.test_graph import ScriptedSales, StaticProducts, StaticRecall
from tests.api.test_runs import Chat
from tests.client import assert_error
from tests.config_paths import CONFIG_DIR
from tests.llm.doubles import FakeClock, ScriptedProvider, ask, catalog, router
from tests.telemetry.recording import RecordingMetrics

THREE = [{"name": "m1", "provider": "p1", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0},
         {"name": "m2", "provider": "p2", "input_usd_per_mtok": 3.0, "output_usd_per_mtok": 6.0}]
MAIN = [{"name": "main", "fallback": ["m1", "m2"]}]


def test_a_tenant_has_a_label_of_its_own_only_when_allow_listed(recorded: RecordingMetrics) -> None:
    assert metrics.tenant_label("tenant-a") == "tenant-a"
    assert {metrics.tenant_label(f"brand-{n}") for n in range(1000)} == {"other"}


def test_a_figure_with_the_wrong_labels_is_a_programming_error(recorded: RecordingMetrics) -> None:
    with pytest.raises(ValueError, match="mas_runs"):
        metrics.record(metrics.RUNS, outcome="completed")


async def test_the_router_counts_tokens_cost_attempts_retries_and_fallbacks_by_the_model_that_answered(
        recorded: RecordingMetrics) -> None:
    p1 = ScriptedProvider("p1", ProviderServerError("503", status=503), ProviderRejected("401", status=401))
    policy = {"retry": {"max_retries": 1, "base_delay_s": 0.1, "max_delay_s": 1}}
    response = await router(catalog(THREE, MAIN, **policy), p1, ScriptedProvider("p2", "ok")).complete(ask(tenant_id="t"))

    assert response.model == "m2"
    assert recorded.total(metrics.LLM_REQUESTS, model="m2", provider="p2", outcome="ok", lane="live") == 1
    assert recorded.total(metrics.LLM_TOKENS, model="m2", direction="input") == 100
    assert recorded.total(metrics.LLM_TOKENS, model="m2", direction="output") == 20
    assert recorded.total(metrics.LLM_COST, model="m2") == pytest.approx(response.cost_usd) and response.cost_usd > 0
    assert recorded.total(metrics.LLM_ATTEMPTS, model="m1", outcome="ProviderServerError") == 1
    assert recorded.total(metrics.LLM_ATTEMPTS, model="m1", outcome="ProviderRejected") == 1
    assert recorded.total(metrics.LLM_ATTEMPTS, model="m2", outcome="ok") == 1
    assert recorded.total(metrics.LLM_RETRIES, model="m1") == 1
    assert recorded.total(metrics.LLM_FALLBACKS, model="m1") == 1
    assert recorded.total(metrics.LLM_TOKENS, model="m1") == 0, "tokens count against the model that answered"


async def test_cooldowns_and_tenant_refusals_are_counted(recorded: RecordingMetrics) -> None:
    clock = FakeClock()
    policy = {"retry": {"max_retries": 0}, "cooldown": {"failures": 2, "window_s": 60, "cooldown_s": 30}}
    limits = {"default": {"requests_per_minute": 3}}
    llm = router(catalog(THREE, MAIN, limits=limits, **policy), ScriptedProvider("p1", ProviderServerError("500")),
                 ScriptedProvider("p2", "ok"), clock=clock)
    for _ in range(3):
        await llm.complete(ask(tenant_id="tenant-a"))
    with pytest.raises(TenantRateLimited):
        await llm.complete(ask(tenant_id="tenant-a"))
    for _ in range(3):
        await llm.complete(ask(tenant_id="brand-x"))
    with pytest.raises(TenantRateLimited):
        await llm.complete(ask(tenant_id="brand-x"))

    assert recorded.total(metrics.LLM_COOLDOWNS, model="m1") == 1
    assert recorded.total(metrics.LLM_RATE_LIMITED, tenant="tenant-a", lane="live") == 1
    assert recorded.total(metrics.LLM_RATE_LIMITED, tenant="other", lane="live") == 1
    assert recorded.total(metrics.LLM_REQUESTS, model="none", outcome="TENANT_RATE_LIMITED") == 2


async def test_a_stream_records_the_engines_time_to_first_token_and_the_gaps_between_chunks(
        recorded: RecordingMetrics) -> None:
    llm = router(catalog(THREE, MAIN), ScriptedProvider("p1", "一二三四五六七八"), ScriptedProvider("p2", "ok"))
    events = [event async for event in llm.stream(ask())]

    response = events[-1].response
    assert response is not None and response.first_token_ms is not None and response.first_token_ms >= 0
    assert len(recorded.observed(metrics.LLM_TTFT, model="m1", provider="p1")) == 1
    assert len(recorded.observed(metrics.LLM_INTER_TOKEN, model="m1")) == 1
    assert recorded.total(metrics.LLM_REQUESTS, model="m1", outcome="ok") == 1


async def test_compliance_counts_verdicts_and_violation_categories_by_direction_and_channel(
        recorded: RecordingMetrics) -> None:
    agent = ComplianceAgent.load(CONFIG_DIR / "compliance")
    await agent.check(ComplianceInput(text="这款精华效果最好的，保证根治。", channel="ad", direction="output"))
    await agent.check(ComplianceInput(text="你好，想了解一下补水", channel="chat", direction="input"))

    assert recorded.total(metrics.COMPLIANCE_VERDICTS, verdict="blocked", direction="output", channel="ad") == 1
    assert recorded.total(metrics.COMPLIANCE_VERDICTS, verdict="approved", direction="input", channel="chat") == 1
    categories = recorded.label_values(metrics.COMPLIANCE_VIOLATIONS, "category")
    assert categories and all(category.isidentifier() for category in categories)


def _turn(text: str = "我想补水") -> TurnInput:
    return TurnInput(run_id="r1", tenant_id="tenant-a", thread_id="t1", text=text,
                     assistant=AssistantProfile(assistant_name="小美"), now=datetime.now(timezone.utc))


async def test_the_graph_records_each_agents_latency_degradations_by_cause_and_the_split_of_its_time(
        recorded: RecordingMetrics) -> None:
    agents = AgentSet(compliance=ComplianceAgent.load(CONFIG_DIR / "compliance"),
                      sentiment=SentimentAgent(None, "offline", CONFIG_DIR), intent=IntentAgent(),
                      memory=StaticRecall(fail=True), products=StaticProducts(delay_s=0.5),
                      sales=ScriptedSales("您好，补水可以了解一下我们的疗程。"))
    events = [event async for event in ChatGraph(agents, optional_timeout_s=0.2).run(_turn())]
    result = events[-1].result

    assert result is not None
    for agent in ("compliance_input", "sentiment", "intent", "sales", "compliance_output"):
        assert len(recorded.observed(metrics.AGENT_LATENCY, agent=agent, status="ok")) == 1, agent
    assert recorded.total(metrics.AGENT_DEGRADED, agent="memory", cause="error") == 1
    assert recorded.total(metrics.AGENT_DEGRADED, agent="products", cause="timeout") == 1
    assert result.agents["products"].started_ms >= result.agents["compliance_input"].latency_ms
    timings = result.timings
    assert timings.agents_ms >= 200  # the products node timed out after 0.2 s before sales began
    assert timings.first_token_ms is not None and timings.generation_ms >= timings.first_token_ms


async def test_runs_are_counted_by_outcome_and_phase_and_logged_once_each(
        recorded: RecordingMetrics, chat: Chat, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mas.runs")
    result = await chat.client.expect(200, "POST", chat.url("runs/wait"), json=chat.body("我想补水，皮肤干燥"),
                                      headers={"X-Request-ID": "req-metrics-1"})
    assert await chat.client.services.runs.acquire_thread("tenant-a", chat.thread_id, "held", lease_seconds=30)
    assert_error(await chat.client.post(chat.url("runs/wait"), json=chat.body("你好")), 409, "THREAD_BUSY")

    assert recorded.total(metrics.RUNS, outcome="completed", mode="wait", tenant="tenant-a") == 1
    assert recorded.total(metrics.RUNS, outcome="busy", code="THREAD_BUSY", mode="wait", tenant="tenant-a") == 1
    phases = {phase: recorded.observed(metrics.RUN_PHASE, phase=phase, mode="wait")
              for phase in ("queued", "context", "agents", "first_token", "generation", "persist", "total")}
    assert all(len(values) == 1 for values in phases.values()), phases
    timings = result["timings"]
    assert timings["total_ms"] >= timings["agents_ms"] + timings["generation_ms"]
    assert timings["router_overhead_ms"] is not None

    lines = [record.getMessage() for record in caplog.records if '"run.finished"' in record.getMessage()]
    assert len(lines) == 1
    assert '"request_id": "req-metrics-1"' in lines[0] and f'"run_id": "{result["run_id"]}"' in lines[0]
    assert '"tenant_id": "tenant-a"' in lines[0] and '"outcome": "completed"' in lines[0]
