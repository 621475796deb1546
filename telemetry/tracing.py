"""Traces of finished runs: what a run's trace holds (``RunTrace``), and where it goes (a ``Tracer``).

A run's trace is written when the run ends, from its record: one trace per run (session = thread), a span per agent
with its real start and duration, a generation per LLM call with model, usage, cost and the prompt version. With
``MAS_LANGFUSE_*`` keys set it goes to Langfuse (``telemetry.langfuse_export``), else nowhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

Level = Literal["DEFAULT", "WARNING", "ERROR"]


class SpanRecord(BaseModel):
    name: str
    started_ms: float  # after the run's start
    latency_ms: float
    level: Level = "DEFAULT"
    status_message: str | None = None
    input: Any = None
    output: Any = None


class GenerationRecord(BaseModel):
    parent: str  # the span it belongs to
    model: str
    provider: str
    started_ms: float
    latency_ms: float
    first_token_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    prompt_version: int | None = None
    output: Any = None


class RunTrace(BaseModel):
    """A finished run, as its trace shows it."""

    run_id: str
    tenant_id: str
    thread_id: str
    assistant_id: str | None = None
    mode: str
    outcome: str
    started_at: datetime
    latency_ms: float
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    names: list[str] = []  # the customer's known names, masked wherever they appear
    spans: list[SpanRecord] = []
    generations: list[GenerationRecord] = []


class Tracer:
    """Where finished runs go; ``NoTracer`` when tracing is off."""

    def record(self, trace: RunTrace) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class NoTracer(Tracer):
    def record(self, trace: RunTrace) -> None:
        pass
