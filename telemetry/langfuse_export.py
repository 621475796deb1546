"""Langfuse export of run traces, through the official SDK on a tracer provider of its own.

Spans are created with their recorded start times on the SDK's tracer scope and wrapped in the SDK's observation
classes, which set Langfuse's attributes; the SDK's batch processor exports them from a background thread, so an
unreachable Langfuse costs a turn nothing but the microseconds of building its spans.

The provider is ours, never the process-global one: the SDK would otherwise install itself as the global provider, and
any other instrumentation's spans in this process (carrying other tenants' data) would be exported to this project.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from langfuse import Langfuse, LangfuseGeneration, LangfuseOtelSpanAttributes, LangfuseSpan
from opentelemetry import trace as otel
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from telemetry.masking import mask
from telemetry.settings import TelemetrySettings
from telemetry.tracing import RunTrace, Tracer

log = logging.getLogger("mas.tracing")
SUMMARY_CHARS = 500  # each string of a span's input or output is cut to this many characters
SDK_SCOPE = "langfuse-sdk"  # the SDK's tracer name: its processor exports spans of this scope (and this public key)


class LangfuseTracer(Tracer):
    def __init__(self, settings: TelemetrySettings) -> None:
        self._provider = TracerProvider(resource=Resource.create({"service.name": "mas"}),
                                        sampler=TraceIdRatioBased(settings.langfuse_sample_rate))
        self._mask_pii = settings.langfuse_mask_pii
        self._client = Langfuse(
            public_key=settings.langfuse_public_key, secret_key=settings.langfuse_secret_key,
            base_url=settings.langfuse_base_url, environment=settings.langfuse_environment,
            flush_interval=settings.langfuse_flush_seconds, timeout=settings.langfuse_timeout_seconds,
            tracer_provider=self._provider,
        )
        self._tracer = self._provider.get_tracer(SDK_SCOPE, attributes={"public_key": settings.langfuse_public_key})

    def record(self, trace: RunTrace) -> None:
        """Queues ``trace`` for export; never raises (a trace is not worth a failed turn)."""
        try:
            self._record(trace)
        except Exception:  # noqa: BLE001
            log.warning("run %s: trace not recorded", trace.run_id, exc_info=True)

    def close(self) -> None:
        """Exports what is queued (bounded by the export timeout), then stops the background thread."""
        self._client.shutdown()
        self._provider.shutdown()

    def _record(self, trace: RunTrace) -> None:
        start_ns = int(trace.started_at.timestamp() * 1e9)

        def at(ms: float) -> int:
            return start_ns + int(ms * 1e6)

        def clean(data: Any) -> Any:
            data = _summary(data)
            return mask(data, trace.names) if self._mask_pii else data

        trace_attributes = {
            LangfuseOtelSpanAttributes.TRACE_NAME: f"run:{trace.mode}",
            LangfuseOtelSpanAttributes.TRACE_SESSION_ID: trace.thread_id,
            LangfuseOtelSpanAttributes.TRACE_TAGS: [f"tenant:{trace.tenant_id}", trace.outcome],
        }
        root_span = self._tracer.start_span("run", start_time=start_ns, attributes=trace_attributes)
        root = LangfuseSpan(otel_span=root_span, langfuse_client=self._client, input=clean(trace.input),
                            output=clean(trace.output), level="ERROR" if trace.error else "DEFAULT",
                            status_message=(trace.error or {}).get("code"),
                            metadata={"run_id": trace.run_id, "tenant_id": trace.tenant_id,
                                      "assistant_id": trace.assistant_id, "outcome": trace.outcome})
        parents = {}
        with otel.use_span(root_span, end_on_exit=False):
            for span in trace.spans:
                child = self._tracer.start_span(span.name, start_time=at(span.started_ms), attributes=trace_attributes)
                parents[span.name] = (child, LangfuseSpan(
                    otel_span=child, langfuse_client=self._client, input=clean(span.input), output=clean(span.output),
                    level=span.level, status_message=span.status_message))
        for generation in trace.generations:
            parent = parents.get(generation.parent, (root_span, root))[0]
            with otel.use_span(parent, end_on_exit=False):
                otel_span = self._tracer.start_span("llm", start_time=at(generation.started_ms), attributes=trace_attributes)
            completion_start = (datetime.fromtimestamp(at(generation.started_ms + generation.first_token_ms) / 1e9,
                                                       trace.started_at.tzinfo)
                                if generation.first_token_ms is not None else None)
            LangfuseGeneration(
                otel_span=otel_span, langfuse_client=self._client, model=generation.model, output=clean(generation.output),
                usage_details={"input": generation.input_tokens, "output": generation.output_tokens},
                cost_details={"total": generation.cost_usd}, completion_start_time=completion_start,
                version=None if generation.prompt_version is None else f"prompt-v{generation.prompt_version}",
                metadata={"provider": generation.provider, "prompt_version": generation.prompt_version},
            ).end(end_time=at(generation.started_ms + generation.latency_ms))
        for span in trace.spans:
            parents[span.name][1].end(end_time=at(span.started_ms + span.latency_ms))
        root.end(end_time=at(trace.latency_ms))


def _summary(data: Any, depth: int = 0) -> Any:
    """``data`` with long strings cut and deep or long structures trimmed: a span's input and output stay short."""
    if isinstance(data, str):
        return data if len(data) <= SUMMARY_CHARS else data[:SUMMARY_CHARS] + "…"
    if depth >= 4:
        return "…"
    if isinstance(data, dict):
        return {str(key): _summary(value, depth + 1) for key, value in list(data.items())[:20]}
    if isinstance(data, (list, tuple)):
        return [_summary(item, depth + 1) for item in data[:20]]
    return data
