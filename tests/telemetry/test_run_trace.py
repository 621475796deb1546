"""A finished run as its trace shows it: spans at their offsets in the run, one generation per LLM call."""

from __future__ import annotations

from datetime import datetime, timezone

from agents.graph import AgentStep, TurnInput, TurnResult
from agents.sales import AssistantProfile, CustomerProfile
from runs.observed import RunClock, _trace
from store.models import Run
from tests.telemetry.test_tracing import PHONE


def _call(model: str, latency_ms: float) -> dict[str, object]:
    return {"model": model, "provider": "p", "input_tokens": 100, "output_tokens": 20, "cost_usd": 0.001,
            "latency_ms": latency_ms, "first_token_ms": 5.0}


def test_each_llm_call_of_a_run_is_a_generation_under_its_agent_one_after_the_other() -> None:
    turn = TurnInput(run_id="r", tenant_id="t", thread_id="th", text=f"电话{PHONE}", prompt_version=3,
                     assistant=AssistantProfile(assistant_name="小美"), customer=CustomerProfile(nickname="Lily"),
                     now=datetime.now(timezone.utc))
    steps = {
        "compliance_input": AgentStep(agent="compliance_input", status="ok", latency_ms=2),
        "sentiment": AgentStep(agent="sentiment", status="ok", latency_ms=40, started_ms=2, output={
            "label": "positive", "model": "gpt-4o-mini", "input_tokens": 50, "output_tokens": 10, "cost_usd": 0.0002}),
        "memory": AgentStep(agent="memory", status="degraded", latency_ms=10, started_ms=2, reason="timed out"),
        "sales": AgentStep(agent="sales", status="ok", latency_ms=90, started_ms=42, output={
            "calls": [_call("m1", 50), _call("m1", 40)], "regenerated": True}),
    }
    result = TurnResult(response="您好", model="m1", agents=steps)
    clock = RunClock(context_ms=8, graph_at_ms=8)
    trace = _trace(Run(run_id="r", tenant_id="t", thread_id="th", mode="wait"), clock, 150, "degraded", turn, result, None)

    spans = {span.name: span for span in trace.spans}
    assert spans["sales"].started_ms == 50 and spans["memory"].level == "WARNING"
    sentiment, reply, regeneration = trace.generations
    assert (sentiment.parent, sentiment.model, sentiment.input_tokens) == ("sentiment", "gpt-4o-mini", 50)
    assert (reply.parent, reply.started_ms, reply.prompt_version) == ("sales", 50, 3)
    assert regeneration.started_ms == 100
    assert trace.names == ["Lily"] and trace.thread_id == "th" and trace.outcome == "degraded"
