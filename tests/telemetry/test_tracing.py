"""Langfuse traces through the official SDK, exported to a local OTLP receiver: one trace per run (session = thread),
a span per agent at its real time, a generation per LLM call with usage, cost and the prompt version, personal data
masked; a dead Langfuse costs a turn nothing; the process-global tracer provider is never touched."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from opentelemetry import trace as otel

from runtime.settings import Settings
from telemetry.langfuse_export import LangfuseTracer
from telemetry.settings import TelemetrySettings
from telemetry.tracing import GenerationRecord, RunTrace, SpanRecord
from tests.api.test_runs import Chat
from tests.telemetry.otlp_receiver import OTLPReceiver, ReceivedSpan, otlp_receiver

AGENTS = {"context", "compliance_input", "sentiment", "intent", "memory", "products", "sales", "compliance_output"}
PHONE = "13912345678"


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with otlp_receiver() as receiver:
        yield receiver


def traced(url: str, **fields: object) -> dict[str, object]:
    # The SDK keeps one client per public key in a process: a key of its own per test keeps their exports apart.
    return {"langfuse_public_key": f"pk-lf-{uuid.uuid4().hex[:12]}", "langfuse_secret_key": "sk-lf-test",
            "langfuse_base_url": url, "langfuse_flush_seconds": 0.2, "langfuse_timeout_seconds": 2, **fields}


@pytest.fixture
def settings(tmp_path: Path, empty_database: str, receiver: OTLPReceiver) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=empty_database, jwt_secret="test-secret-" + "x" * 52,
                    **traced(receiver.url))


async def _spans_of(receiver: OTLPReceiver, trace_name: str, timeout_s: float = 15.0) -> list[ReceivedSpan]:
    """The spans of the one trace whose root is ``run`` with ``trace_name``, once its generation has arrived too."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        spans = receiver.received()
        roots = [s for s in spans if s.name == "run" and s.attributes.get("langfuse.trace.name") == trace_name]
        if roots:
            trace = [s for s in spans if s.trace_id == roots[-1].trace_id]
            if any(s.name == "llm" for s in trace) and AGENTS <= {s.name for s in trace}:
                return trace
        await asyncio.sleep(0.1)
    pytest.fail(f"no complete trace arrived; got {[s.name for s in receiver.received()]}")


async def test_a_run_is_one_trace_with_a_span_per_agent_and_a_generation_with_usage_and_cost(
        chat: Chat, receiver: OTLPReceiver) -> None:
    result = await chat.wait(f"我叫王芳，电话{PHONE}，想了解补水，明天下午能来吗")
    spans = await _spans_of(receiver, "run:wait")
    by_name = {span.name: span for span in spans}
    root, sales, llm = by_name["run"], by_name["sales"], by_name["llm"]

    assert root.parent_id == "" and root.attributes["session.id"] == chat.thread_id
    assert json.loads(root.attributes["langfuse.observation.metadata.run_id"]) == result["run_id"]
    assert all(by_name[name].parent_id == root.span_id for name in AGENTS)
    assert llm.parent_id == sales.span_id
    assert {span.scope for span in spans} == {"langfuse-sdk"}
    for name in AGENTS:  # each span at its real time, inside the run's
        assert root.start_ns <= by_name[name].start_ns <= by_name[name].end_ns <= root.end_ns + 1_000_000, name
    assert by_name["sentiment"].start_ns >= by_name["compliance_input"].end_ns - 1_000_000
    assert sales.start_ns >= max(by_name[name].end_ns for name in ("sentiment", "intent", "memory")) - 1_000_000

    assert llm.attributes["langfuse.observation.type"] == "generation"
    assert llm.attributes["langfuse.observation.model.name"] == result["model"]
    usage = json.loads(llm.attributes["langfuse.observation.usage_details"])
    assert usage["input"] > 0 and usage["output"] > 0
    assert json.loads(llm.attributes["langfuse.observation.cost_details"]) == {"total": result["cost_usd"]}
    assert llm.attributes["langfuse.version"] == "prompt-v1"  # the assistant's active prompt version

    exported = _readable(spans)
    assert PHONE not in exported and "王芳" not in exported and "Lily" not in exported
    assert "[手机号]" in exported and "[姓名]" in exported
    assert receiver.authorizations and all(header.startswith("Basic ") for header in receiver.authorizations)


async def test_the_sdk_never_becomes_the_process_global_tracer_provider(chat: Chat, receiver: OTLPReceiver) -> None:
    await chat.wait("你好")
    await _spans_of(receiver, "run:wait")
    assert isinstance(otel.get_tracer_provider(), otel.ProxyTracerProvider)
    with otel.get_tracer("another-library").start_as_current_span("another tenant's work"):
        pass
    await asyncio.sleep(0.5)
    assert all(span.name != "another tenant's work" for span in receiver.received())


def _readable(spans: list[ReceivedSpan]) -> str:
    """Every attribute value as text, the SDK's JSON-encoded ones decoded (their Chinese is escaped on the wire)."""
    def decoded(value: object) -> object:
        try:
            return json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            return value
    return json.dumps([{key: decoded(value) for key, value in span.attributes.items()} for span in spans], ensure_ascii=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _trace() -> RunTrace:
    return RunTrace(run_id="r", tenant_id="t", thread_id="th", mode="wait", outcome="completed",
                    started_at=datetime.now(timezone.utc), latency_ms=50, input={"text": f"电话{PHONE}"},
                    spans=[SpanRecord(name="sales", started_ms=10, latency_ms=30)],
                    generations=[GenerationRecord(parent="sales", model="m", provider="p", started_ms=10, latency_ms=30,
                                                  input_tokens=10, output_tokens=5, cost_usd=0.001)])


def test_recording_never_waits_for_a_langfuse_that_does_not_answer_and_closing_is_bounded() -> None:
    # A host that accepts connections and never answers: an export waits its whole timeout there, so a record
    # that exported in line would take at least that long (a refused port would fail fast either way).
    timeout_s = 5
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        tracer = LangfuseTracer(TelemetrySettings(**{**traced(f"http://127.0.0.1:{silent.getsockname()[1]}"),
                                                     "langfuse_timeout_seconds": timeout_s}))
        started = time.perf_counter()
        for _ in range(50):
            tracer.record(_trace())
        assert time.perf_counter() - started < timeout_s, "50 records took longer than one export to the host"
        started = time.perf_counter()
        tracer.close()
        assert time.perf_counter() - started < 6 * timeout_s, "shutdown waits for the host at most its export timeouts"
