"""Batch jobs and their items, durable: a batch and all its items are stored in one transaction before the 202, and
workers claim items with a lease, so a killed worker's items are claimed again once their lease expires, and each
item's outcome is written once (compare-and-set on the claim that ran it).

An item goes pending → running (claimed until ``lease_expires_at``) → done | failed, or cancelled with its batch. A
batch goes queued → running (its first claim) → completed (every item finished; ``failed`` when none succeeded) or
cancelled. Each tenant runs at most ``per_tenant`` batches at once; its other batches wait, in submission order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import Batch, BatchItem, utcnow

ACTIVE = ("queued", "running")
UNFINISHED = ("pending", "running")
ITEM_ABANDONED = "ITEM_ABANDONED"
_INSERT_CHUNK = 1000


def unfinished(counts: dict[str, int]) -> bool:
    return any(counts.get(state) for state in UNFINISHED)


class BatchStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, tenant_id: str, kind: str, options: dict[str, Any], items: Sequence[Any]) -> Batch:
        batch = Batch(batch_id=str(uuid.uuid4()), tenant_id=tenant_id, kind=kind, state="queued", options=options, total=len(items))
        async with self._sessions() as session, session.begin():
            session.add(batch)
            await session.flush()
            for start in range(0, len(items), _INSERT_CHUNK):
                await session.execute(insert(BatchItem), [
                    {"batch_id": batch.batch_id, "index": index, "tenant_id": tenant_id, "input": item, "state": "pending",
                     "attempts": 0} for index, item in enumerate(items[start:start + _INSERT_CHUNK], start=start)])
        return batch

    async def get(self, tenant_id: str, batch_id: str) -> Batch | None:
        async with self._sessions() as session:
            return await session.scalar(select(Batch).where(Batch.tenant_id == tenant_id, Batch.batch_id == batch_id))

    async def page(self, tenant_id: str, offset: int, limit: int) -> tuple[list[Batch], int]:
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(Batch).where(Batch.tenant_id == tenant_id))
            rows = await session.scalars(select(Batch).where(Batch.tenant_id == tenant_id)
                                         .order_by(Batch.created_at.desc(), Batch.batch_id).offset(offset).limit(limit))
            return list(rows), int(total or 0)

    async def counts(self, batch_id: str) -> dict[str, int]:
        """Items by state."""
        async with self._sessions() as session:
            rows = await session.execute(select(BatchItem.state, func.count()).where(BatchItem.batch_id == batch_id)
                                         .group_by(BatchItem.state))
            return {state: int(count) for state, count in rows}

    async def items(self, tenant_id: str, batch_id: str, after: int, limit: int) -> list[BatchItem]:
        """Items in input order, from index ``after + 1``."""
        async with self._sessions() as session:
            rows = await session.scalars(select(BatchItem).where(
                BatchItem.tenant_id == tenant_id, BatchItem.batch_id == batch_id, BatchItem.index > after)
                .order_by(BatchItem.index).limit(limit))
            return list(rows)

    async def cancel(self, tenant_id: str, batch_id: str) -> bool:
        """Cancels an active batch and its pending items (items running now finish and keep their outcome)."""
        now = utcnow()
        async with self._sessions() as session, session.begin():
            changed = await session.execute(update(Batch).where(
                Batch.tenant_id == tenant_id, Batch.batch_id == batch_id, Batch.state.in_(ACTIVE))
                .values(state="cancelled", finished_at=now, updated_at=now))
            if not changed.rowcount:  # type: ignore[attr-defined]
                return False
            await session.execute(update(BatchItem).where(BatchItem.batch_id == batch_id, BatchItem.state == "pending")
                                  .values(state="cancelled", finished_at=now))
            return True

    async def backlog(self) -> tuple[int, datetime | None]:
        """Items of active batches not yet done, every tenant's: how many, and when the oldest's batch was created."""
        async with self._sessions() as session:
            count, oldest = (await session.execute(
                select(func.count(), func.min(Batch.created_at)).select_from(BatchItem)
                .join(Batch, Batch.batch_id == BatchItem.batch_id)
                .where(Batch.state.in_(ACTIVE), BatchItem.state == "pending"))).one()
        return int(count or 0), oldest

    async def runnable(self, per_tenant: int) -> list[Batch]:
        """Batches whose items may be claimed now: running ones, and the oldest queued ones of tenants running fewer
        than ``per_tenant``."""
        async with self._sessions() as session:
            active = list(await session.scalars(select(Batch).where(Batch.state.in_(ACTIVE)).order_by(Batch.created_at)))
        running: dict[str, int] = {}
        for batch in active:
            if batch.state == "running":
                running[batch.tenant_id] = running.get(batch.tenant_id, 0) + 1
        chosen = []
        for batch in active:
            if batch.state == "queued":
                if running.get(batch.tenant_id, 0) >= per_tenant:
                    continue
                running[batch.tenant_id] = running.get(batch.tenant_id, 0) + 1
            chosen.append(batch)
        return chosen

    async def claim(self, batch: Batch, limit: int, lease_seconds: float, max_attempts: int) -> tuple[str, list[BatchItem]]:
        """Up to ``limit`` items of ``batch`` (pending, or running under an expired lease), under one new claim.

        An item whose lease expired ``max_attempts`` times (its worker kept dying on it) fails with ITEM_ABANDONED.
        """
        claim, now = str(uuid.uuid4()), utcnow()
        claimable = and_(BatchItem.batch_id == batch.batch_id, or_(
            BatchItem.state == "pending", and_(BatchItem.state == "running", BatchItem.lease_expires_at < now)))
        async with self._sessions() as session:
            candidates = list(await session.scalars(select(BatchItem).where(claimable).order_by(BatchItem.index).limit(limit)))
        claimed = []
        async with self._sessions() as session, session.begin():
            if batch.state == "queued":
                await session.execute(update(Batch).where(Batch.batch_id == batch.batch_id, Batch.state == "queued")
                                      .values(state="running", started_at=now, updated_at=now))
            for item in candidates:
                same = and_(BatchItem.batch_id == item.batch_id, BatchItem.index == item.index, BatchItem.state == item.state,
                            BatchItem.attempts == item.attempts)
                if item.attempts >= max_attempts:
                    await session.execute(update(BatchItem).where(same).values(
                        state="failed", finished_at=now, claim=None,
                        error={"code": ITEM_ABANDONED, "message": f"the item's worker died {item.attempts} times"}))
                    continue
                taken = await session.execute(update(BatchItem).where(same).values(
                    state="running", claim=claim, attempts=item.attempts + 1, lease_expires_at=now + timedelta(seconds=lease_seconds)))
                if taken.rowcount:  # type: ignore[attr-defined]
                    item.state, item.claim, item.attempts = "running", claim, item.attempts + 1
                    claimed.append(item)
        return claim, claimed

    async def renew(self, batch_id: str, claim: str, lease_seconds: float) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(update(BatchItem).where(
                BatchItem.batch_id == batch_id, BatchItem.claim == claim, BatchItem.state == "running")
                .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds)))

    async def finish(self, item: BatchItem, claim: str, *, result: Any = None, error: dict[str, Any] | None = None) -> bool:
        """Writes the item's outcome if ``claim`` still holds it (False: it was claimed again meanwhile)."""
        values: dict[str, Any] = {"state": "failed" if error else "done", "result": result, "error": error,
                                  "finished_at": utcnow(), "lease_expires_at": None}
        return await self._held(item, claim, values)

    async def retry(self, item: BatchItem, claim: str) -> bool:
        """Puts the item back for another attempt (a failure worth retrying)."""
        return await self._held(item, claim, {"state": "pending", "claim": None, "lease_expires_at": None})

    async def _held(self, item: BatchItem, claim: str, values: dict[str, Any]) -> bool:
        async with self._sessions() as session, session.begin():
            changed = await session.execute(update(BatchItem).where(
                BatchItem.batch_id == item.batch_id, BatchItem.index == item.index, BatchItem.claim == claim,
                BatchItem.state == "running").values(**values))
            return bool(changed.rowcount)  # type: ignore[attr-defined]

    async def settle(self, batch_id: str, counts: dict[str, int], summary: dict[str, Any] | None = None) -> bool:
        """Completes a running batch whose item ``counts`` have no unfinished item left (``failed`` when none
        succeeded); True if it did. Finished items stay finished, so counts read before still hold."""
        if unfinished(counts):
            return False
        state = "failed" if counts.get("failed") and not counts.get("done") else "completed"
        now: datetime = utcnow()
        async with self._sessions() as session, session.begin():
            changed = await session.execute(update(Batch).where(Batch.batch_id == batch_id, Batch.state.in_(ACTIVE))
                                            .values(state=state, summary=summary, finished_at=now, updated_at=now))
            return bool(changed.rowcount)  # type: ignore[attr-defined]

    async def done_results(self, batch_id: str) -> list[tuple[Any, Any]]:
        """(input, result) of every item that succeeded, in input order (what an evaluation is computed from)."""
        async with self._sessions() as session:
            rows = await session.execute(select(BatchItem.input, BatchItem.result).where(
                BatchItem.batch_id == batch_id, BatchItem.state == "done").order_by(BatchItem.index))
            return [(input_, result) for input_, result in rows]
