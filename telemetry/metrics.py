"""The ``mas_`` metrics, declared once, recorded by the code that owns each fact, exported by whoever installs a recorder.

Code anywhere (the router, the graph, compliance, the run executor) calls ``count``/``observe``/``gauge`` with a spec
from this module; nothing is recorded until a process installs a ``Recorder``: each Serve replica installs one backed by
``ray.serve.metrics`` (``deployments/replica.py``), so the figures reach Ray's Prometheus endpoint tagged with the
deployment and replica. Label values are bounded: every label of a spec is either an enum the code controls or a
catalog name (model, provider), and a tenant appears only when configured in ``MAS_METRICS_TENANTS`` (else "other").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

Kind = Literal["counter", "histogram", "gauge"]
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
TOKEN_GAP_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
OTHER_TENANT = "other"


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    description: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = LATENCY_BUCKETS_S


# Runs (the run executor: the ingress for wait/stream runs, the RunWorker for async ones).
RUNS = Metric("mas_runs", "counter", "Runs by outcome: completed, degraded (an optional agent failed), handoff (stored for a "
              "person, no AI reply), failed (by error code, RUN_CANCELLED included), busy (refused: the thread had a "
              "run in flight).", ("outcome", "code", "mode", "tenant"))
RUN_PHASE = Metric("mas_run_phase_seconds", "histogram", "Where a run's time goes: queued (async, before a worker took it), "
                   "context (reading the turn), agents (input compliance and the parallel agents), first_token (sales "
                   "call to the first reply text), generation, persist (the turn's transaction), total.", ("phase", "mode"))
# The chat graph (the Workflow deployment).
AGENT_LATENCY = Metric("mas_agent_latency_seconds", "histogram", "Per-agent step latency in the chat graph.",
                       ("agent", "status"))
AGENT_DEGRADED = Metric("mas_agent_degraded", "counter", "Optional agents that degraded a run, by cause (timeout, error).",
                        ("agent", "cause"))
ROUTER_OVERHEAD = Metric("mas_llm_router_overhead_seconds", "histogram", "Time to first token seen by the graph minus the "
                         "engine's own time to first token: the handle hops, routing and admission in between.", ("model",))
# The LLM router (the LLMRouter deployment).
LLM_REQUESTS = Metric("mas_llm_requests", "counter", "LLM requests by the model that answered (or 'none') and outcome.",
                      ("model", "provider", "outcome", "lane"))
LLM_TOKENS = Metric("mas_llm_tokens", "counter", "Tokens by model and direction (input, output).",
                    ("model", "provider", "direction", "lane"))
LLM_COST = Metric("mas_llm_cost_usd", "counter", "Cost in USD by model, at the catalog's prices.", ("model", "provider", "lane"))
LLM_TTFT = Metric("mas_llm_time_to_first_token_seconds", "histogram", "The engine's time to first token: from the provider "
                  "call to its first chunk, per streamed attempt that produced one.", ("model", "provider"))
LLM_INTER_TOKEN = Metric("mas_llm_inter_token_seconds", "histogram", "Mean gap between a stream's chunks after the first "
                         "(one observation per stream).", ("model", "provider"), TOKEN_GAP_BUCKETS_S)
LLM_ATTEMPTS = Metric("mas_llm_attempts", "counter", "Provider attempts by outcome (ok, or the error type).",
                      ("model", "provider", "outcome"))
LLM_RETRIES = Metric("mas_llm_retries", "counter", "Retries of a model after a retryable error.", ("model",))
LLM_FALLBACKS = Metric("mas_llm_fallbacks", "counter", "Requests moved on from a model to the next of its group.", ("model",))
LLM_COOLDOWNS = Metric("mas_llm_cooldowns", "counter", "Times a model was taken out of routing (cooldown started).", ("model",))
LLM_RATE_LIMITED = Metric("mas_llm_rate_limited", "counter", "Requests refused by a tenant's limits.", ("tenant", "lane"))
# Compliance (the Compliance deployment).
COMPLIANCE_VERDICTS = Metric("mas_compliance_verdicts", "counter", "Compliance verdicts by direction and channel.",
                             ("verdict", "direction", "channel"))
COMPLIANCE_VIOLATIONS = Metric("mas_compliance_violations", "counter", "Violations found, by category.",
                               ("category", "direction", "channel"))
# Queues (sampled by the RunWorker and the BatchDriver).
QUEUE_DEPTH = Metric("mas_queue_depth", "gauge", "Work waiting: queued async runs (runs), pending batch items (batch_items).",
                     ("queue",))
QUEUE_AGE = Metric("mas_queue_oldest_age_seconds", "gauge", "Age of the oldest waiting entry of the queue (0 when empty).",
                   ("queue",))
# Personal data (erasures through the API, the retention sweep in the RunWorker).
PERSONAL_DATA_REMOVED = Metric("mas_personal_data_removed", "counter",
                               "Items of customers' personal data removed, by reason (erasure, retention) and store.",
                               ("reason", "store"))

ALL = (RUNS, RUN_PHASE, AGENT_LATENCY, AGENT_DEGRADED, ROUTER_OVERHEAD, LLM_REQUESTS, LLM_TOKENS, LLM_COST, LLM_TTFT,
       LLM_INTER_TOKEN, LLM_ATTEMPTS, LLM_RETRIES, LLM_FALLBACKS, LLM_COOLDOWNS, LLM_RATE_LIMITED, COMPLIANCE_VERDICTS,
       COMPLIANCE_VIOLATIONS, QUEUE_DEPTH, QUEUE_AGE, PERSONAL_DATA_REMOVED)


class Recorder(Protocol):
    """Where the figures go (``ray.serve.metrics`` in a replica); called with a spec's labels, all of them."""

    def record(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None: ...


class _Nowhere:
    def record(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None:
        pass


_recorder: Recorder = _Nowhere()
_tenants: frozenset[str] = frozenset()


def install(recorder: Recorder, tenants: Iterable[str] = ()) -> None:
    """Send this process's figures to ``recorder``; ``tenants``: those that get a tenant label of their own."""
    global _recorder, _tenants
    _recorder, _tenants = recorder, frozenset(tenants)


def uninstall() -> None:
    install(_Nowhere())


def tenant_label(tenant_id: str | None) -> str:
    """The tenant's own label when it is on the allow-list, else "other": label cardinality stays bounded."""
    return tenant_id if tenant_id in _tenants else OTHER_TENANT


def record(metric: Metric, value: float = 1.0, **labels: str) -> None:
    """A counter increment, a histogram observation or a gauge value, as ``metric.kind`` says. A recorder that fails is
    ignored (a figure is not worth a failed request); labels other than the spec's are a programming error and raise."""
    if labels.keys() != set(metric.labels):
        raise ValueError(f"{metric.name} takes labels {metric.labels}, got {tuple(labels)}")
    try:
        _recorder.record(metric, value, labels)
    except Exception:  # noqa: BLE001 - metrics are best effort
        pass
