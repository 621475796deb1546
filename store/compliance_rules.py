"""A tenant's own compliance rules, versioned like prompts (append-only 1, 2, 3…, exactly one active, each naming
the app key that wrote it), and what the LLM's second opinion on compliance spent per tenant and UTC day."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import ComplianceReviewSpend, ComplianceRuleVersion, Tenant
from store.versions import VersionConflict, append_version

__all__ = ["ComplianceRuleStore", "ReviewSpendStore", "TenantMissing", "VersionConflict"]


class TenantMissing(LookupError):
    pass


class ComplianceRuleStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add_version(self, tenant_id: str, rules_json: dict[str, Any], note: str | None, created_by: str | None,
                          based_on: int | None = None) -> ComplianceRuleVersion:
        """Append ``rules_json`` (forbidden, allowed, second_opinion) as the tenant's only active version.

        The tenant's row is locked first, so its writers take turns; ``based_on`` (0: the tenant had none) no longer
        the latest is a VersionConflict (``store.versions``).
        """

        async def lock(session: AsyncSession) -> None:
            if await session.scalar(select(Tenant.tenant_id).where(Tenant.tenant_id == tenant_id).with_for_update()) is None:
                raise TenantMissing(tenant_id)

        def make(number: int) -> ComplianceRuleVersion:
            return ComplianceRuleVersion(tenant_id=tenant_id, version=number, rules=rules_json, is_active=True, note=note,
                                         created_by=created_by)

        return await append_version(self._sessions, ComplianceRuleVersion, [ComplianceRuleVersion.tenant_id == tenant_id],
                                    make, based_on, lock)

    async def active(self, tenant_id: str) -> ComplianceRuleVersion | None:
        async with self._sessions() as session:
            return await session.scalar(select(ComplianceRuleVersion).where(
                ComplianceRuleVersion.tenant_id == tenant_id, ComplianceRuleVersion.is_active.is_(True)))

    async def version(self, tenant_id: str, version: int) -> ComplianceRuleVersion | None:
        async with self._sessions() as session:
            return await session.scalar(select(ComplianceRuleVersion).where(
                ComplianceRuleVersion.tenant_id == tenant_id, ComplianceRuleVersion.version == version))

    async def history(self, tenant_id: str, limit: int) -> list[ComplianceRuleVersion]:
        """The tenant's versions, newest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ComplianceRuleVersion).where(ComplianceRuleVersion.tenant_id == tenant_id)
                .order_by(ComplianceRuleVersion.version.desc()).limit(limit)
            )
            return list(rows)


def _day(day: date | str) -> date:
    return day if isinstance(day, date) else date.fromisoformat(day)


class ReviewSpendStore:
    """The second opinion's meter: USD and calls per tenant and UTC day, added to atomically by every replica."""

    _ATTEMPTS = 3

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def spent(self, tenant_id: str, day: date | str) -> float:
        """USD spent on ``day`` (a date, or its ISO form ``YYYY-MM-DD``)."""
        async with self._sessions() as session:
            spent = await session.scalar(select(ComplianceReviewSpend.spent_usd).where(
                ComplianceReviewSpend.tenant_id == tenant_id, ComplianceReviewSpend.day == _day(day)))
            return float(spent or 0.0)

    async def add(self, tenant_id: str, day: date | str, cost_usd: float) -> None:
        """Count one call costing ``cost_usd`` on ``day``. One UPDATE adds to the row (so two replicas adding at once
        both count), and the day's first call inserts it (the loser of that race adds to the winner's row)."""
        when = _day(day)
        for _ in range(self._ATTEMPTS):
            async with self._sessions.begin() as session:
                added = await session.execute(
                    update(ComplianceReviewSpend)
                    .where(ComplianceReviewSpend.tenant_id == tenant_id, ComplianceReviewSpend.day == when)
                    .values(spent_usd=ComplianceReviewSpend.spent_usd + cost_usd, calls=ComplianceReviewSpend.calls + 1)
                )
                if added.rowcount:
                    return
            try:
                async with self._sessions.begin() as session:
                    session.add(ComplianceReviewSpend(tenant_id=tenant_id, day=when, spent_usd=cost_usd, calls=1))
                return
            except IntegrityError:  # another call inserted the day's row first: add to it
                continue
        raise RuntimeError(f"could not add to the review spend of tenant {tenant_id!r} on {day}")
