"""The runs section of the settings tree (``runtime.settings`` reads it from ``MAS_`` variables): thread leases, the
async-run workers, webhook delivery and configuration reloads."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class RunsSettings(BaseModel):
    webhook_allow_private: bool = Field(
        default=False, description="Let run webhooks target loopback and private addresses (refused by default: SSRF)."
    )
    run_lease_seconds: float = Field(
        default=30.0, ge=0.1, le=3600, description="Thread run lease and async-run claim TTL, renewed every third of it."
    )
    run_enqueue_seconds: float = Field(
        default=120.0, ge=0, le=3600,
        description="How long an `enqueue` run waits for its thread before it is refused (409 THREAD_BUSY).",
    )
    run_enqueue_poll_seconds: float = Field(
        default=0.25, ge=0.01, le=10,
        description="How often a waiting `enqueue` run checks a thread whose active run executes in another process.",
    )
    run_events_ttl_seconds: float = Field(
        default=600.0, ge=1, le=7 * 86400,
        description="How long a run's events are kept for a client joining or resuming its stream.",
    )
    run_events_flush_seconds: float = Field(
        default=0.25, ge=0.01, le=10,
        description="How often a running run's new events are written to the event log (and a joiner elsewhere polls it).",
    )
    handoff_config: Path | None = Field(
        default=None, description="The hand-off rules (which messages hand a thread to a person, per tenant); "
                                  "default: configs/handoff/handoff.yaml.",
    )
    run_max_attempts: int = Field(
        default=3, ge=1, le=100, description="Claims of an async run that may expire before it fails with RUN_ABANDONED."
    )
    erasure_wait_seconds: float = Field(
        default=60.0, ge=1, le=3600,
        description="How long an erasure waits for a turn in flight on the thread before it is left pending (resumed by "
                    "the run worker).",
    )
    retention_sweep_seconds: float = Field(
        default=3600.0, ge=1, le=7 * 86400,
        description="How often the run worker applies the tenants' retention limits (features.retention).",
    )
    worker_poll_seconds: float = Field(default=1.0, ge=0.01, le=60, description="How often an idle run worker looks for work.")
    worker_concurrency: int = Field(default=8, ge=1, le=1000, description="Async runs one replica's worker executes at once.")
    webhook_attempts: int = Field(default=6, ge=1, le=50, description="Delivery attempts of a run webhook before it is failed.")
    webhook_backoff_seconds: float = Field(
        default=2.0, ge=0.01, le=300, description="First webhook retry delay; doubles per attempt (with jitter, capped at 5 min)."
    )
    webhook_timeout_seconds: float = Field(default=10.0, ge=0.1, le=120, description="Timeout of one webhook POST.")
    compliance_rules_ttl_seconds: float = Field(
        default=5.0, ge=0, le=3600,
        description="How long a replica reuses a tenant's active compliance rules: an edit reaches every check within it.",
    )
    compliance_review_model: str | None = Field(
        default=None, min_length=1, max_length=100,
        description="The alias or model that gives the second opinion on approved ad and social copy (a tenant switches it "
                    "on); default: the catalog's default alias.",
    )
    compliance_review_cache_entries: int = Field(
        default=4096, ge=0, le=1_000_000, description="Second-opinion judgements a replica keeps, per tenant and text.",
    )
    reload_check_seconds: float = Field(
        default=1.0, ge=0, le=60, description="How soon every replica picks up a reload asked of one (reload-prompt)."
    )
    batch_concurrency: int = Field(
        default=4, ge=1, le=256, description="Items of one batch in flight at once (kept low: batches run below live turns)."
    )
    batch_per_tenant: int = Field(default=1, ge=1, le=100, description="Batches of one tenant running at once; the rest wait.")
    batch_max_attempts: int = Field(default=3, ge=1, le=20, description="Tries of a batch item (a failure or a dead worker).")
    batch_yield_seconds: float = Field(
        default=1.0, ge=0, le=60,
        description="How long a batch chunk waits for live turns in flight to finish before it starts (then runs one item).",
    )
