"""ORM models. Every tenant-owned row carries ``tenant_id`` and every query filters by it."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite drops the offset on its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    pass


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Tenant(Timestamps, Base):
    __tablename__ = "tenants"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    industry: Mapped[str | None] = mapped_column(String(100))
    creator: Mapped[str | None] = mapped_column(String(100))
    features: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class AppKey(Base):
    """An operator-issued key; only its SHA-256 is stored, the prefix finds the row."""

    __tablename__ = "app_keys"

    key_id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[str] = mapped_column(String(64))  # a tenant id, or "*" for a platform key
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Assistant(Timestamps, Base):
    __tablename__ = "assistants"
    __table_args__ = (Index("ix_assistants_tenant_created", "tenant_id", "created_at"),)

    assistant_id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.tenant_id"))
    assistant_name: Mapped[str] = mapped_column(String(100))
    nickname: Mapped[str | None] = mapped_column(String(100))
    personality: Mapped[str] = mapped_column(Text)
    occupation: Mapped[str] = mapped_column(String(100))
    industry: Mapped[str] = mapped_column(String(100))
    profile: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    sex: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(300))
    voice_id: Mapped[str | None] = mapped_column(String(100))
    voice_file: Mapped[str | None] = mapped_column(String(500))
    model: Mapped[str | None] = mapped_column(String(100))
    multitask_strategy: Mapped[str] = mapped_column(String(16), default="reject", server_default="reject")
    merge_window_seconds: Mapped[float] = mapped_column(Float, default=2.0, server_default="2.0")
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PromptVersion(Base):
    __tablename__ = "prompt_versions"
    __table_args__ = (UniqueConstraint("assistant_id", "version", name="uq_prompt_versions_assistant_version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.tenant_id"))
    assistant_id: Mapped[str] = mapped_column(ForeignKey("assistants.assistant_id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(String(200))  # how it came to be: created, updated, rollback to N, cloned from X
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ComplianceRuleVersion(Base):
    """A version of a tenant's own compliance rules (``agents.compliance_brand.BrandRules`` without its tenant and
    version): append-only, numbered 1, 2, 3… per tenant, exactly one active."""

    __tablename__ = "compliance_rule_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "version", name="uq_compliance_rule_versions_tenant_version"),
        # At most one active version per tenant, whatever a writer does (add_version also keeps it so).
        Index("ux_compliance_rule_versions_active", "tenant_id", unique=True,
              sqlite_where=text("is_active"), postgresql_where=text("is_active")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.tenant_id"))
    version: Mapped[int] = mapped_column(Integer)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONType)  # forbidden, allowed, second_opinion
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(String(500))  # the editor's note, or "rollback to vN"
    created_by: Mapped[str | None] = mapped_column(String(36))  # the app key id of the caller who wrote it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ComplianceReviewSpend(Base):
    """What the LLM's second opinion on compliance cost a tenant on one UTC day (its daily budget's meter)."""

    __tablename__ = "compliance_review_spend"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    spent_usd: Mapped[float] = mapped_column(Float, default=0.0)
    calls: Mapped[int] = mapped_column(Integer, default=0)


class Thread(Timestamps, Base):
    __tablename__ = "threads"
    __table_args__ = (Index("ix_threads_tenant_created", "tenant_id", "created_at"),
                      Index("ix_threads_tenant_external_user", "tenant_id", "external_user_id"))

    thread_id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.tenant_id"))
    assistant_id: Mapped[str | None] = mapped_column(ForeignKey("assistants.assistant_id"))
    status: Mapped[str] = mapped_column(String(16), default="IDLE")
    name: Mapped[str | None] = mapped_column(String(200))
    nickname: Mapped[str | None] = mapped_column(String(100))
    real_name: Mapped[str | None] = mapped_column(String(100))
    sex: Mapped[str | None] = mapped_column(String(8))
    age: Mapped[int | None] = mapped_column(Integer)
    phone: Mapped[str | None] = mapped_column(String(32))
    external_user_id: Mapped[str | None] = mapped_column(String(128))  # the customer's id in the brand's own systems
    occupation: Mapped[str | None] = mapped_column(String(100))
    services: Mapped[list[str]] = mapped_column(JSONType, default=list)
    is_converted: Mapped[bool] = mapped_column(Boolean, default=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    # The run lease: one run at a time per thread; an expired lease is free again (a crashed run never blocks).
    lease_run_id: Mapped[str | None] = mapped_column(String(36))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Handed to a person (by API or a hand-off rule) until released: no AI reply meanwhile.
    handoff_reason: Mapped[str | None] = mapped_column(String(200))
    handoff_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_thread_seq", "thread_id", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.tenant_id"))
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.thread_id"))
    run_id: Mapped[str | None] = mapped_column(String(36))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[Any] = mapped_column(JSONType)  # str, or a list of {type, content} parts
    author: Mapped[str | None] = mapped_column(String(16))  # "human": a person's reply during a hand-off
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RunEventRow(Base):
    """One event of a run (``seq`` from 1), kept for ``MAS_RUN_EVENTS_TTL_SECONDS`` so a client can join or resume
    its stream (the relational log; Redis keeps them instead when configured)."""

    __tablename__ = "run_events"
    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_run_events_run_seq"),
                      Index("ix_run_events_created", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Run(Timestamps, Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_thread_created", "thread_id", "created_at"),
        Index("ix_runs_status_created", "status", "created_at"),  # workers: the oldest queued run
        Index("ix_runs_status_claim_expires", "status", "claim_expires_at"),  # workers: runs whose worker died
        Index("ix_runs_webhook_due", "webhook_status", "webhook_next_at"),  # workers: webhooks to (re)send
        Index("ux_runs_tenant_idempotency_key", "tenant_id", "idempotency_key", unique=True),  # NULLs never collide
    )

    run_id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.tenant_id"))
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.thread_id"))
    assistant_id: Mapped[str | None] = mapped_column(String(36))
    mode: Mapped[str] = mapped_column(String(16))  # wait | stream | async
    status: Mapped[str] = mapped_column(String(16), default="queued")
    input: Mapped[Any] = mapped_column(JSONType)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    model: Mapped[str | None] = mapped_column(String(100))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    requested_model: Mapped[str | None] = mapped_column(String(100))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict, server_default="{}")
    idempotency_key: Mapped[str | None] = mapped_column(String(255))  # the client's Idempotency-Key (runs/idempotency.py)
    request_id: Mapped[str | None] = mapped_column(String(128))  # X-Request-ID of the request that created it (logs)
    # Async runs: the worker holding the run, until its claim expires (then another worker takes it over).
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a queued run is not claimed before this
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    webhook_status: Mapped[str] = mapped_column(String(16), default="none", server_default="none")  # none|pending|delivered|failed
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    webhook_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    webhook_error: Mapped[str | None] = mapped_column(Text)


class Product(Timestamps, Base):
    __tablename__ = "products"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.tenant_id"), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    price: Mapped[float | None] = mapped_column(Float)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    indications: Mapped[list[str]] = mapped_column(JSONType, default=list)
    contraindications: Mapped[list[str]] = mapped_column(JSONType, default=list)
    aliases: Mapped[list[str]] = mapped_column(JSONType, default=list)


class ConfigGeneration(Base):
    """How many times a component's configuration was reloaded: replicas compare it with the one they loaded."""

    __tablename__ = "config_generations"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Batch(Timestamps, Base):
    """A batch job: items of one kind run by the batch workers; its progress is counted from its items."""

    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_tenant_created", "tenant_id", "created_at"),)

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.tenant_id"))
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | completed | failed | cancelled
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # the evaluation's metrics, once completed
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BatchItem(Base):
    """One item of a batch: pending → running (claimed until ``lease_expires_at``) → done | failed | cancelled."""

    __tablename__ = "batch_items"
    __table_args__ = (Index("ix_batch_items_batch_state", "batch_id", "state"),)

    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.batch_id"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(128))
    input: Mapped[Any] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim: Mapped[str | None] = mapped_column(String(36))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[Any] = mapped_column(JSONType, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Erasure(Base):
    """A customer's erasure: the threads it covers (``ErasedThread``) and what each store removed. Durable before any
    store is touched, so an erasure a crash interrupted is resumed, and never reported done before it is."""

    __tablename__ = "erasures"
    __table_args__ = (Index("ix_erasures_state_created", "state", "created_at"),)

    erasure_id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(32))  # thread | phone | external_user_id (never the value itself)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done
    receipt: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # store -> items removed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the replica erasing it, until then
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ErasedThread(Base):
    """One thread of an erasure; ``erased_at`` once every store has forgotten it."""

    __tablename__ = "erased_threads"
    __table_args__ = (Index("ix_erased_threads_tenant_thread", "tenant_id", "thread_id"),)

    erasure_id: Mapped[str] = mapped_column(ForeignKey("erasures.erasure_id"), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
