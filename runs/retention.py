"""Retention per tenant: messages (with their finished runs and run events) and memories older than the tenant's
limits are deleted by a sweep the run worker's housekeeping runs every ``retention_sweep_seconds``.

A tenant sets its limits in its features: ``{"retention": {"messages_days": 365, "memories_days": 180}}``
(``RetentionPolicy``); a tenant without them keeps its data.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from store.erasures import ErasureStore
from store.models import utcnow
from store.run_events import RunEventLog
from store.tenants import TenantStore
from telemetry.metrics import PERSONAL_DATA_REMOVED, record

log = logging.getLogger("mas.retention")
RUN_BATCH = 500


class RetentionPolicy(BaseModel):
    """How long a tenant keeps its customers' data; unset: kept until erased."""

    model_config = ConfigDict(extra="forbid")

    messages_days: int | None = Field(None, ge=1, le=36_500, description="Messages, runs and run events older than this.")
    memories_days: int | None = Field(None, ge=1, le=36_500, description="Long-term memories (and their vectors) older than this.")

    @classmethod
    def of(cls, features: dict[str, Any] | None) -> RetentionPolicy | None:
        """The policy in a tenant's features; None when unset (or unreadable: a tenant written before validation)."""
        policy = (features or {}).get("retention")
        if not policy:
            return None
        try:
            return cls.model_validate(policy)
        except ValidationError:
            return None


class ExpiringMemory(Protocol):
    async def expire(self, tenant_id: str, before: datetime) -> int: ...


class RetentionSweep:
    def __init__(self, tenants: TenantStore, rows: ErasureStore, memory: ExpiringMemory, events: RunEventLog,
                 interval_seconds: float, clock: Callable[[], datetime] = utcnow) -> None:
        self._tenants = tenants
        self._rows = rows
        self._memory = memory
        self._events = events
        self._interval = interval_seconds
        self._now = clock
        self._next = 0.0

    async def sweep_when_due(self) -> dict[str, int] | None:
        if time.monotonic() < self._next:
            return None
        self._next = time.monotonic() + self._interval
        return await self.sweep()

    async def sweep(self) -> dict[str, int]:
        """Applies every tenant's policy once; what it removed, by store."""
        removed: Counter[str] = Counter()
        for tenant_id, policy in await self._policies():
            applied = await self._apply(tenant_id, policy)
            removed.update(applied)
            for store, count in applied.items():
                if count:
                    record(PERSONAL_DATA_REMOVED, count, reason="retention", store=store)
        if any(removed.values()):
            log.info("retention sweep removed %s", dict(removed))
        return dict(removed)

    async def _policies(self) -> list[tuple[str, RetentionPolicy]]:
        return [(tenant.tenant_id, policy) for tenant in await self._tenants.all()
                if (policy := RetentionPolicy.of(tenant.features)) is not None]

    async def _apply(self, tenant_id: str, policy: RetentionPolicy) -> Counter[str]:
        removed: Counter[str] = Counter()
        now = self._now()
        if policy.messages_days is not None:
            before = now - timedelta(days=policy.messages_days)
            while True:
                run_ids = await self._rows.expired_run_ids(tenant_id, before, RUN_BATCH)
                removed[f"run_events_{self._events.name}"] += await self._events.forget(tenant_id, run_ids)
                removed.update(await self._rows.expire(tenant_id, before, run_ids))
                if len(run_ids) < RUN_BATCH:
                    break
        if policy.memories_days is not None:
            removed["memories"] = await self._memory.expire(tenant_id, now - timedelta(days=policy.memories_days))
        return removed
