"""A customer's personal data in the relational store: erasure jobs, the rows they remove, retention and export.

An erasure is written (with the threads it covers) before any store is touched, then claimed by one replica at a
time; what each store removed is added to its receipt as each step ends, so a resumed erasure reports everything.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import BatchItem, ErasedThread, Erasure, JSONType, Message, Run, Thread, utcnow
from store.runs import ACTIVE as ACTIVE_RUN_STATES

ERASED_PROFILE = {"name": None, "nickname": None, "real_name": None, "sex": None, "age": None, "phone": None,
                  "occupation": None, "external_user_id": None, "services": [], "metadata_": {}}


def phone_digits(phone: str) -> str:
    """The digits a phone number is matched by: '+86 138-1234-5678' and '13812345678' are one number."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def _digits_of(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.replace(func.replace(func.replace(func.replace(column, "+86", ""), "+", ""), "-", ""), " ", "")


def _of_thread(model: Any, tenant_id: str, thread_id: str) -> ColumnElement[bool]:
    return and_(model.tenant_id == tenant_id, model.thread_id == thread_id)


class ErasureStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._now = clock

    # -- the jobs ----------------------------------------------------------------------------------

    async def create(self, tenant_id: str, subject: str, thread_ids: list[str]) -> Erasure:
        erasure = Erasure(tenant_id=tenant_id, subject=subject, receipt={}, created_at=self._now())
        async with self._sessions.begin() as session:
            session.add(erasure)
            await session.flush()
            session.add_all(ErasedThread(erasure_id=erasure.erasure_id, thread_id=thread_id, tenant_id=tenant_id)
                            for thread_id in dict.fromkeys(thread_ids))
        return erasure

    async def get(self, tenant_id: str, erasure_id: str) -> Erasure | None:
        async with self._sessions() as session:
            return await session.scalar(select(Erasure).where(Erasure.tenant_id == tenant_id, Erasure.erasure_id == erasure_id))

    async def of_thread(self, tenant_id: str, thread_id: str) -> Erasure | None:
        """The latest erasure covering the thread."""
        async with self._sessions() as session:
            return await session.scalar(
                select(Erasure).join(ErasedThread, ErasedThread.erasure_id == Erasure.erasure_id)
                .where(_of_thread(ErasedThread, tenant_id, thread_id)).order_by(Erasure.created_at.desc()).limit(1))

    async def threads(self, erasure_id: str, *, pending_only: bool = False) -> list[str]:
        where = [ErasedThread.erasure_id == erasure_id]
        if pending_only:
            where.append(ErasedThread.erased_at.is_(None))
        async with self._sessions() as session:
            return list(await session.scalars(select(ErasedThread.thread_id).where(*where).order_by(ErasedThread.thread_id)))

    async def claim(self, erasure_id: str, seconds: float) -> Erasure | None:
        """The pending erasure, now held by the caller for ``seconds``; None when done or held by another replica."""
        now = self._now()
        async with self._sessions.begin() as session:
            claimed = await session.execute(
                update(Erasure)
                .where(Erasure.erasure_id == erasure_id, Erasure.state == "pending",
                       or_(Erasure.claimed_until.is_(None), Erasure.claimed_until < now))
                .values(claimed_until=now + timedelta(seconds=seconds), attempts=Erasure.attempts + 1)
                .execution_options(synchronize_session=False))
            if claimed.rowcount != 1:
                return None
            return await session.scalar(select(Erasure).where(Erasure.erasure_id == erasure_id))

    async def renew(self, erasure_id: str, seconds: float) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(Erasure).where(Erasure.erasure_id == erasure_id, Erasure.state == "pending")
                                  .values(claimed_until=self._now() + timedelta(seconds=seconds)))

    async def resumable(self, limit: int) -> list[Erasure]:
        """Pending erasures nobody holds (their replica died, or a store failed), oldest first."""
        async with self._sessions() as session:
            return list(await session.scalars(
                select(Erasure).where(Erasure.state == "pending",
                                                 or_(Erasure.claimed_until.is_(None), Erasure.claimed_until < self._now()))
                .order_by(Erasure.created_at).limit(limit)))

    async def add_to_receipt(self, erasure_id: str, removed: dict[str, int], thread_done: str | None = None) -> None:
        """Adds what a step removed to the receipt (by its claim holder only), and marks ``thread_done`` erased."""
        async with self._sessions.begin() as session:
            erasure = await session.scalar(select(Erasure).where(Erasure.erasure_id == erasure_id).with_for_update())
            if erasure is None:
                return
            receipt = dict(erasure.receipt or {})
            for store, count in removed.items():
                receipt[store] = receipt.get(store, 0) + count
            erasure.receipt = receipt
            if thread_done is not None:
                await session.execute(update(ErasedThread)
                                      .where(ErasedThread.erasure_id == erasure_id, ErasedThread.thread_id == thread_done)
                                      .values(erased_at=self._now()))

    async def finish(self, erasure_id: str, error: str | None = None) -> None:
        """Done, or (with ``error``) left pending for the next attempt, claimable again at once."""
        values: dict[str, Any] = {"claimed_until": None, "last_error": error}
        if error is None:
            values.update(state="done", finished_at=self._now())
        async with self._sessions.begin() as session:
            await session.execute(update(Erasure).where(Erasure.erasure_id == erasure_id).values(**values))

    # -- the customer's rows -----------------------------------------------------------------------

    async def threads_of_customer(self, tenant_id: str, *, phone: str | None = None,
                                  external_user_id: str | None = None) -> list[str]:
        """The tenant's threads of the customer with this phone number (however it was spaced) or external user id."""
        match = (Thread.external_user_id == external_user_id if external_user_id is not None
                 else _digits_of(Thread.phone) == phone_digits(phone or ""))
        async with self._sessions() as session:
            return list(await session.scalars(select(Thread.thread_id).where(Thread.tenant_id == tenant_id, match)))

    async def run_ids(self, tenant_id: str, thread_id: str) -> list[str]:
        async with self._sessions() as session:
            return list(await session.scalars(select(Run.run_id).where(_of_thread(Run, tenant_id, thread_id))))

    async def erase_rows(self, tenant_id: str, thread_id: str) -> dict[str, int]:
        """In one transaction: the thread's messages and runs, its campaign drafts, and its profile (the row itself
        stays, holding the thread's lease, until ``delete_thread``)."""
        async with self._sessions.begin() as session:
            messages = await session.execute(delete(Message).where(_of_thread(Message, tenant_id, thread_id)))
            runs = await session.execute(delete(Run).where(_of_thread(Run, tenant_id, thread_id)))
            drafts = await session.execute(
                update(BatchItem).where(BatchItem.tenant_id == tenant_id, BatchItem.input == type_coerce(thread_id, JSONType))  # a campaign item is its thread id
                .values(input="erased", result=None, error=None).execution_options(synchronize_session=False))
            await session.execute(update(Thread).where(Thread.tenant_id == tenant_id, Thread.thread_id == thread_id)
                                  .values(**ERASED_PROFILE).execution_options(synchronize_session=False))
        return {"messages": messages.rowcount, "runs": runs.rowcount, "batch_items": drafts.rowcount}

    async def delete_thread(self, tenant_id: str, thread_id: str) -> int:
        async with self._sessions.begin() as session:
            await session.execute(delete(Message).where(_of_thread(Message, tenant_id, thread_id)))  # a late human reply
            return (await session.execute(delete(Thread).where(Thread.tenant_id == tenant_id,
                                                               Thread.thread_id == thread_id))).rowcount

    # -- retention ---------------------------------------------------------------------------------

    def _expired_runs(self, tenant_id: str, before: datetime) -> Select[tuple[str]]:
        return select(Run.run_id).where(Run.tenant_id == tenant_id, Run.created_at < before,
                                        Run.status.not_in(ACTIVE_RUN_STATES))

    async def expired_run_ids(self, tenant_id: str, before: datetime, limit: int) -> list[str]:
        async with self._sessions() as session:
            return list(await session.scalars(self._expired_runs(tenant_id, before).limit(limit)))

    async def expire(self, tenant_id: str, before: datetime, run_ids: list[str]) -> dict[str, int]:
        """Deletes the tenant's messages created before ``before`` and these finished runs (``expired_run_ids``)."""
        async with self._sessions.begin() as session:
            messages = await session.execute(delete(Message).where(Message.tenant_id == tenant_id, Message.created_at < before))
            runs = await session.execute(delete(Run).where(Run.tenant_id == tenant_id, Run.run_id.in_(run_ids),
                                                           Run.status.not_in(ACTIVE_RUN_STATES)))
        return {"messages": messages.rowcount, "runs": runs.rowcount}

    # -- export ------------------------------------------------------------------------------------

    async def export_rows(self, tenant_id: str, thread_id: str, limit: int) -> tuple[list[Message], list[Run]]:
        """The thread's messages (oldest first) and runs (oldest first), up to ``limit`` of each."""
        async with self._sessions() as session:
            messages = await session.scalars(select(Message).where(_of_thread(Message, tenant_id, thread_id))
                                             .order_by(Message.seq).limit(limit))
            runs = await session.scalars(select(Run).where(_of_thread(Run, tenant_id, thread_id))
                                         .order_by(Run.created_at).limit(limit))
            return list(messages), list(runs)
