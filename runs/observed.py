"""What a finished run tells its operators: its latency split (in the run record), the ``mas_runs`` and
``mas_run_phase_seconds`` metrics, one structured log line, and its Langfuse trace."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from agents.graph import TurnInput, TurnResult
from store.models import Run
from telemetry import metrics
from telemetry.metrics import record
from telemetry.tracing import GenerationRecord, RunTrace, SpanRecord, Tracer

log = logging.getLogger("mas.runs")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


@dataclass
class RunClock:
    """The phases of one execution, in ms: queued (created to started), context (reading the turn), persist."""

    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    began: float = field(default_factory=time.perf_counter)
    queued_ms: float = 0.0
    context_ms: float | None = None
    graph_at_ms: float = 0.0  # when the graph began, after the run's start
    persist_ms: float | None = None

    @classmethod
    def start(cls, run: Run) -> RunClock:
        clock = cls()
        if run.created_at is not None:
            clock.queued_ms = max(0.0, _ms((clock.started_at - run.created_at).total_seconds()))
        return clock

    def now_ms(self) -> float:
        return _ms(time.perf_counter() - self.began)

    def timings(self, result: TurnResult) -> dict[str, Any]:
        """The run record's latency split: the executor's phases around the graph's own."""
        return {"queued_ms": self.queued_ms, "context_ms": self.context_ms,
                **result.timings.model_dump(), "total_ms": self.now_ms()}


def finished(run: Run, clock: RunClock, tracer: Tracer, turn: TurnInput | None = None, result: TurnResult | None = None,
             error: dict[str, Any] | None = None) -> None:
    """Records a run that ended: completed (``result``), failed (``error``: the envelope's error with its status), or
    handed to a person (neither)."""
    total_ms = clock.now_ms()
    if result is not None:
        degraded = any(step.status == "degraded" for step in result.agents.values())
        outcome, code = ("degraded" if degraded else "completed"), ""
    elif error is None:
        outcome, code = "handoff", ""
    else:
        outcome, code = "failed", (error or {}).get("code", "INTERNAL_ERROR")
    record(metrics.RUNS, outcome=outcome, code=code, mode=run.mode, tenant=metrics.tenant_label(run.tenant_id))
    phases = {"queued": clock.queued_ms, "context": clock.context_ms, "persist": clock.persist_ms, "total": total_ms}
    if result is not None:
        phases.update(agents=result.timings.agents_ms, first_token=result.timings.first_token_ms,
                      generation=result.timings.generation_ms)
    for phase, ms in phases.items():
        if ms is not None:
            record(metrics.RUN_PHASE, ms / 1000, phase=phase, mode=run.mode)
    log.info(json.dumps({
        "event": "run.finished", "request_id": run.request_id, "run_id": run.run_id, "tenant_id": run.tenant_id,
        "thread_id": run.thread_id, "mode": run.mode, "outcome": outcome, "code": code or None,
        "model": result.model if result else None, "timings_ms": {k: v for k, v in phases.items() if v is not None},
    }))
    tracer.record(_trace(run, clock, total_ms, outcome, turn, result, error))


def busy(mode: str, tenant_id: str) -> None:
    """A run refused because its thread had one in flight (409 THREAD_BUSY)."""
    record(metrics.RUNS, outcome="busy", code="THREAD_BUSY", mode=mode, tenant=metrics.tenant_label(tenant_id))


class BacklogGauge:
    """A queue's depth and the age of its oldest entry, read from the store into the ``mas_queue_*`` gauges at most
    every ``every_s`` (by whoever polls that queue: the RunWorker, the BatchDriver)."""

    def __init__(self, queue: str, read: Callable[[], Awaitable[tuple[int, datetime | None]]], every_s: float = 5.0) -> None:
        self._queue, self._read, self._every_s = queue, read, every_s
        self._next = 0.0

    async def sample_when_due(self) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self._every_s
        depth, oldest = await self._read()
        age = (datetime.now(timezone.utc) - oldest).total_seconds() if oldest is not None else 0.0
        record(metrics.QUEUE_DEPTH, depth, queue=self._queue)
        record(metrics.QUEUE_AGE, max(age, 0.0), queue=self._queue)


def _generations(agent: str, output: dict[str, Any], started_ms: float, latency_ms: float, turn: TurnInput | None,
                 reply: str) -> list[GenerationRecord]:
    """The LLM calls of an agent step: the sales reply (and its regeneration, one after the other), and sentiment's
    structured answer in LLM mode."""
    version = turn.prompt_version if turn else None
    if agent == "sentiment" and output.get("model") and output.get("input_tokens"):
        return [GenerationRecord(parent=agent, model=output["model"], provider="", started_ms=started_ms,
                                 latency_ms=latency_ms, input_tokens=output["input_tokens"],
                                 output_tokens=output["output_tokens"], cost_usd=output["cost_usd"],
                                 output={"label": output.get("label")})]
    calls = []
    for call in output.get("calls", []) if agent == "sales" else ():
        calls.append(GenerationRecord(
            parent=agent, model=call["model"], provider=call["provider"], started_ms=started_ms,
            latency_ms=call["latency_ms"], first_token_ms=call["first_token_ms"], input_tokens=call["input_tokens"],
            output_tokens=call["output_tokens"], cost_usd=call["cost_usd"], prompt_version=version, output=reply))
        started_ms += call["latency_ms"]
    return calls


def _trace(run: Run, clock: RunClock, total_ms: float, outcome: str, turn: TurnInput | None, result: TurnResult | None,
           error: dict[str, Any] | None) -> RunTrace:
    spans: list[SpanRecord] = []
    generations: list[GenerationRecord] = []
    names = [name for name in (turn.customer.real_name, turn.customer.nickname) if name] if turn else []
    if clock.context_ms is not None:
        spans.append(SpanRecord(name="context", started_ms=0.0, latency_ms=clock.context_ms))
    for name, step in result.agents.items() if result is not None else ():
        if step.status == "skipped":
            continue
        started = clock.graph_at_ms + step.started_ms
        spans.append(SpanRecord(name=name, started_ms=started, latency_ms=step.latency_ms,
                                level="WARNING" if step.status == "degraded" else "DEFAULT", status_message=step.reason,
                                input={"text": turn.text} if turn else None, output=step.output))
        generations.extend(_generations(name, step.output or {}, started, step.latency_ms, turn, result.response))
    return RunTrace(run_id=run.run_id, tenant_id=run.tenant_id, thread_id=run.thread_id, assistant_id=run.assistant_id,
                    mode=run.mode, outcome=outcome, started_at=clock.started_at, latency_ms=total_ms,
                    input={"text": turn.text} if turn else None, output=result.response if result else None, error=error,
                    names=names, spans=spans, generations=generations)
