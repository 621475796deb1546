"""Runs of the agent graph on a thread: the async-run queue, the thread run lease, and webhook bookkeeping.

Every state change is a compare-and-set (``UPDATE … WHERE <the state it expects>`` and a rowcount
check): portable across SQLite and PostgreSQL, and safe when replicas (or processes sharing one SQLite
file) race for the same row. Transactions are short, so SQLite writers queue on the busy timeout instead
of failing.

An async run goes queued → running (claimed by one worker until ``claim_expires_at``, renewed while it
executes) → completed | failed. A claim that expires (its worker died) makes the run claimable again;
after ``max_attempts`` expired claims it fails with ``RUN_ABANDONED``. A run that finishes is written
in one transaction with its messages, and that transaction also releases the thread lease. Wait and
stream runs cannot be resumed elsewhere: ``sweep_abandoned`` fails those a crashed replica left behind.

Times come from the application clock: replicas sharing a database should keep their clocks in sync (NTP).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, Update, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import Message, Run, Thread, new_id, utcnow
from store.threads import handed_off

logger = logging.getLogger("mas.runs")

RUN_ABANDONED = "RUN_ABANDONED"
ACTIVE = ("queued", "running")  # a run in these states may still be finished (completed or failed)
_CLAIM_CANDIDATES = 10  # due runs read per claim; a worker that loses a race for one tries the next


class UnknownThread(LookupError):
    """The thread does not exist, or belongs to another tenant."""


class KeyTaken(Exception):
    """Another run of the tenant already has this idempotency key."""


def _later(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def _of_thread(tenant_id: str, thread_id: str) -> tuple[ColumnElement[bool], ...]:
    return Thread.tenant_id == tenant_id, Thread.thread_id == thread_id


def _the_run(run: Run) -> tuple[ColumnElement[bool], ...]:
    return Run.run_id == run.run_id, Run.tenant_id == run.tenant_id


def _same_claim(run: Run) -> ColumnElement[bool]:
    """The row is still in the claim ``run`` was read under (no other worker claimed it since)."""
    holder = Run.claimed_by.is_(None) if run.claimed_by is None else Run.claimed_by == run.claimed_by
    return and_(holder, Run.attempts == run.attempts)


def _claimable(now: datetime) -> ColumnElement[bool]:
    """An async run that is queued and due, or running under a claim that expired (its worker died)."""
    due = or_(Run.not_before.is_(None), Run.not_before <= now)
    return and_(
        Run.mode == "async",
        or_(and_(Run.status == "queued", due), and_(Run.status == "running", Run.claim_expires_at < now)),
    )


def _orphaned(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """A wait or stream run still active without a live thread lease: the replica executing it died."""
    holds_live_lease = (
        select(Thread.thread_id)
        .where(Thread.thread_id == Run.thread_id, Thread.lease_run_id == Run.run_id, Thread.lease_expires_at >= now)
        .exists()
    )
    return Run.mode != "async", Run.status.in_(ACTIVE), ~holds_live_lease


_ABANDONED = {"code": RUN_ABANDONED, "message": "the replica running it stopped before it finished"}


def _release_lease(tenant_id: str, thread_id: str, run_id: str) -> Update:
    return (
        update(Thread)
        .where(*_of_thread(tenant_id, thread_id), Thread.lease_run_id == run_id)
        .values(lease_run_id=None, lease_expires_at=None, status="IDLE")
    )


def _finished(run: Run, now: datetime, status: Literal["completed", "handoff", "failed", "cancelled"]) -> dict[str, Any]:
    """The columns every finished run gets; its webhook (if any) is due now."""
    return {
        "status": status,
        "finished_at": now,
        "claim_expires_at": None,
        "webhook_status": "pending" if run.webhook_url else "none",
        "webhook_next_at": now if run.webhook_url else None,
    }


def _apply(run: Run, values: dict[str, Any]) -> None:
    """Mirror what was written onto the caller's (detached) object, so it does not go stale."""
    for name, value in values.items():
        setattr(run, name, value)


class RunStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._now = clock

    async def create(
        self,
        tenant_id: str,
        thread_id: str,
        *,
        assistant_id: str | None,
        mode: Literal["wait", "stream", "async"],
        input: list[dict[str, Any]],
        metadata: dict[str, Any],
        requested_model: str | None,
        webhook_url: str | None,
        status: Literal["queued", "running"],
        run_id: str | None = None,
        idempotency_key: str | None = None,
        request_id: str | None = None,
    ) -> Run:
        """Store a new run (``run_id``: one already holding the thread lease); raises ``UnknownThread`` unless
        the thread is this tenant's, ``KeyTaken`` when another of the tenant's runs has ``idempotency_key``."""
        run = Run(
            run_id=run_id or new_id(),
            tenant_id=tenant_id,
            thread_id=thread_id,
            assistant_id=assistant_id,
            mode=mode,
            status=status,
            input=input,
            metadata_=metadata,
            requested_model=requested_model,
            webhook_url=webhook_url,
            started_at=self._now() if status == "running" else None,
            idempotency_key=idempotency_key,
            request_id=request_id,
        )
        await self._insert(run)
        return run

    async def start(self, tenant_id: str, thread_id: str, lease_seconds: float, run_id: str | None = None,
                    **fields: Any) -> Run | None:
        """Take the thread's lease and store a new running run (``create``'s ``fields``), in one transaction, so a
        lease is never held by a run that does not exist yet: None, with nothing written, when the thread is busy."""
        now = self._now()
        run = Run(run_id=run_id or new_id(), tenant_id=tenant_id, thread_id=thread_id, status="running", started_at=now,
                  webhook_url=None, metadata_=fields.pop("metadata"), **fields)
        free = or_(Thread.lease_run_id.is_(None), Thread.lease_expires_at < now)
        lease = (
            update(Thread)
            .where(*_of_thread(tenant_id, thread_id), free)
            .values(lease_run_id=run.run_id, lease_expires_at=_later(now, lease_seconds), status="RUNNING")
        )
        return run if await self._insert(run, lease) else None

    async def _insert(self, run: Run, lease: Update | None = None) -> bool:
        """Add ``run`` (after taking the thread ``lease``, if given: False, nothing written, when it is not free)."""
        try:
            async with self._sessions.begin() as session:
                if lease is not None:
                    if (await session.execute(lease.execution_options(synchronize_session=False))).rowcount != 1:
                        return False
                elif await session.scalar(select(Thread.thread_id).where(*_of_thread(run.tenant_id, run.thread_id))) is None:
                    raise UnknownThread(run.thread_id)
                session.add(run)
        except IntegrityError:
            key = run.idempotency_key
            if key is None or await self.by_key(run.tenant_id, key) is None:
                raise
            raise KeyTaken(key) from None
        return True

    async def live(self, within_seconds: float = 2.0) -> int:
        """Interactive runs (wait, stream), every tenant's, executing now or started in the last ``within_seconds``:
        what batch jobs give way to (a conversation is live between its turns too)."""
        recent = self._now() - timedelta(seconds=within_seconds)
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(Run).where(
                Run.mode != "async", or_(Run.status == "running", Run.started_at >= recent))) or 0)

    async def backlog(self) -> tuple[int, datetime | None]:
        """Queued async runs, every tenant's: how many, and when the oldest was created."""
        async with self._sessions() as session:
            count, oldest = (await session.execute(
                select(func.count(), func.min(Run.created_at)).where(Run.status == "queued"))).one()
        return int(count or 0), oldest

    async def get(self, tenant_id: str, thread_id: str, run_id: str) -> Run | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Run).where(Run.tenant_id == tenant_id, Run.thread_id == thread_id, Run.run_id == run_id)
            )

    async def of_thread(self, tenant_id: str, thread_id: str, limit: int) -> list[Run]:
        """The thread's latest ``limit`` runs, newest first."""
        async with self._sessions() as session:
            return list(await session.scalars(
                select(Run).where(Run.tenant_id == tenant_id, Run.thread_id == thread_id)
                .order_by(Run.created_at.desc(), Run.run_id).limit(limit)))

    async def since(self, tenant_id: str, since: datetime, limit: int) -> list[Row[Any]]:
        """What usage counts of the tenant's runs created since ``since``, newest first, at most ``limit``: the
        columns it reads, not the inputs, events and webhook state of thousands of runs."""
        columns = (Run.created_at, Run.model, Run.status, Run.input_tokens, Run.output_tokens, Run.cost_usd, Run.result)
        async with self._sessions() as session:
            return list(await session.execute(
                select(*columns).where(Run.tenant_id == tenant_id, Run.created_at >= since)
                .order_by(Run.created_at.desc()).limit(limit)))

    async def active(self, tenant_id: str, thread_id: str) -> list[Run]:
        """The thread's runs that may still be finished: the one holding its lease and any queued, oldest first."""
        async with self._sessions() as session:
            return list(await session.scalars(
                select(Run).where(Run.tenant_id == tenant_id, Run.thread_id == thread_id, Run.status.in_(ACTIVE))
                .order_by(Run.created_at)))

    async def holder(self, tenant_id: str, thread_id: str) -> Run | None:
        """The run holding the thread's live lease (None when the thread is free)."""
        now = self._now()
        async with self._sessions() as session:
            return await session.scalar(
                select(Run).join(Thread, and_(Thread.tenant_id == Run.tenant_id, Thread.lease_run_id == Run.run_id))
                .where(*_of_thread(tenant_id, thread_id), Thread.lease_expires_at >= now, Run.status.in_(ACTIVE)))

    async def cancel(self, run: Run, reason: dict[str, Any], *, keep_input: bool = False) -> bool:
        """End ``run`` as cancelled (``reason``: the error object it shows) and free its thread, whoever executes it;
        with ``keep_input``, its customer messages are stored, unanswered, in the same transaction. False, with nothing
        written, when it had already finished. The executor notices (at once in its own process, else at its next
        lease renewal) and stops; what it would have stored is refused by ``complete``'s compare-and-set."""
        values = _finished(run, self._now(), "cancelled") | {"error": reason}
        async with self._sessions.begin() as session:
            changed = await session.execute(
                update(Run).where(*_the_run(run), Run.status.in_(ACTIVE)).values(**values)
                .execution_options(synchronize_session=False))
            if changed.rowcount != 1:
                return False
            await session.execute(_release_lease(run.tenant_id, run.thread_id, run.run_id))
            if keep_input:
                session.add_all(Message(tenant_id=run.tenant_id, thread_id=run.thread_id, run_id=run.run_id,
                                        role=m["role"], content=m["content"]) for m in run.input)
        _apply(run, values)
        return True

    # -- idempotency keys ------------------------------------------------------------------------------

    async def by_key(self, tenant_id: str, key: str) -> Run | None:
        """The tenant's run that holds the idempotency ``key``."""
        async with self._sessions() as session:
            return await session.scalar(select(Run).where(Run.tenant_id == tenant_id, Run.idempotency_key == key))

    async def release_key(self, run: Run) -> bool:
        """Take a failed run's idempotency key from it, so a new run can hold it; False unless it was failed."""
        return await self._changed(
            update(Run).where(*_the_run(run), Run.status == "failed", Run.idempotency_key == run.idempotency_key)
            .values(idempotency_key=None)
        )

    async def abandon_if_orphaned(self, run: Run) -> bool:
        """Fail ``run`` with RUN_ABANDONED if the replica executing it died (``_orphaned``); True if it did."""
        now = self._now()
        values = {"status": "failed", "error": _ABANDONED, "finished_at": now}
        return await self._changed(update(Run).where(*_the_run(run), *_orphaned(now)).values(**values))

    # -- the thread lease: one run at a time per thread ------------------------------------------------

    async def acquire_thread(self, tenant_id: str, thread_id: str, run_id: str, lease_seconds: float) -> bool:
        """Take the thread's lease for ``run_id``: True when it was free, expired or already this run's."""
        now = self._now()
        free = or_(Thread.lease_run_id.is_(None), Thread.lease_run_id == run_id, Thread.lease_expires_at < now)
        return await self._changed(
            update(Thread)
            .where(*_of_thread(tenant_id, thread_id), free)
            .values(lease_run_id=run_id, lease_expires_at=_later(now, lease_seconds), status="RUNNING")
        )

    async def renew_thread(self, tenant_id: str, thread_id: str, run_id: str, lease_seconds: float) -> bool:
        """Extend the lease; False when it is no longer this run's (lost: stop working on the thread)."""
        return await self._changed(
            update(Thread)
            .where(*_of_thread(tenant_id, thread_id), Thread.lease_run_id == run_id)
            .values(lease_expires_at=_later(self._now(), lease_seconds))
        )

    # -- finishing a run -------------------------------------------------------------------------------

    async def complete(
        self,
        run: Run,
        *,
        result: dict[str, Any],
        model: str | None,
        input_tokens: int,
        output_tokens: int,
        cost_usd: float,
        messages: list[dict[str, Any]],
        status: Literal["completed", "handoff"] = "completed",
        handoff: str | None = None,
    ) -> bool:
        """Append the turn's ``messages`` (role, content), mark the run ``status`` (``handoff``: it stored the
        customer's message and made no reply) and free the thread, atomically; with ``handoff`` (a reason), the
        thread is also handed to a person in the same transaction.

        False, with nothing written, when the run was already finished or claimed by another worker since
        ``run`` was read. If writing fails, nothing is written and the error propagates.
        """
        now = self._now()
        values = _finished(run, now, status) | {
            "result": result,
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_usd": cost_usd,
        }
        rows = [Message(tenant_id=run.tenant_id, thread_id=run.thread_id, run_id=run.run_id, **m) for m in messages]
        async with self._sessions.begin() as session:
            if not await self._finish(session, run, values):
                return False
            session.add_all(rows)
            if handoff is not None:
                await session.execute(handed_off(run.tenant_id, run.thread_id, handoff, now))
        _apply(run, values)
        return True

    async def fail(self, run: Run, error: dict[str, Any]) -> bool:
        """Mark the run failed (``error``: code, message) and free the thread; False when it was already finished."""
        values = _finished(run, self._now(), "failed") | {"error": error}
        async with self._sessions.begin() as session:
            if not await self._finish(session, run, values):
                return False
        _apply(run, values)
        return True

    @staticmethod
    async def _finish(session: AsyncSession, run: Run, values: dict[str, Any], *conditions: ColumnElement[bool]) -> bool:
        """Write a finished run's ``values`` if it is still active under the same claim, and free its thread."""
        changed = await session.execute(
            update(Run)
            .where(*_the_run(run), Run.status.in_(ACTIVE), _same_claim(run), *conditions)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:
            return False
        await session.execute(_release_lease(run.tenant_id, run.thread_id, run.run_id))
        return True

    # -- the async-run queue ---------------------------------------------------------------------------

    async def claim_next(self, worker_id: str, lease_seconds: float, *, max_attempts: int = 3) -> Run | None:
        """Claim the oldest due async run for ``worker_id`` (None when there is none).

        A run whose claim already expired ``max_attempts`` times is failed with RUN_ABANDONED instead.
        """
        now = self._now()
        async with self._sessions() as session:
            candidates = list(
                await session.scalars(select(Run).where(_claimable(now)).order_by(Run.created_at).limit(_CLAIM_CANDIDATES))
            )
        for candidate in candidates:
            if candidate.status == "running" and candidate.attempts >= max_attempts:
                await self._abandon(candidate, now)
                continue
            claimed = await self._claim(candidate, worker_id, lease_seconds, now)
            if claimed is not None:
                return claimed
        return None

    async def _claim(self, candidate: Run, worker_id: str, lease_seconds: float, now: datetime) -> Run | None:
        async with self._sessions.begin() as session:
            changed = await session.execute(
                update(Run)
                .where(Run.run_id == candidate.run_id, Run.attempts == candidate.attempts, _claimable(now))
                .values(
                    status="running",
                    claimed_by=worker_id,
                    claim_expires_at=_later(now, lease_seconds),
                    attempts=Run.attempts + 1,
                    started_at=now,
                    not_before=None,
                )
                .execution_options(synchronize_session=False)
            )
            if changed.rowcount != 1:
                return None  # another worker claimed it first
            return await session.scalar(select(Run).where(Run.run_id == candidate.run_id))

    async def _abandon(self, run: Run, now: datetime) -> None:
        message = f"the run stopped its worker {run.attempts} times; it is not retried"
        values = _finished(run, now, "failed") | {"error": {"code": RUN_ABANDONED, "message": message}}
        async with self._sessions.begin() as session:
            abandoned = await self._finish(session, run, values, Run.status == "running", Run.claim_expires_at < now)
        if abandoned:
            logger.warning("run %s (tenant %s) abandoned after %d attempts", run.run_id, run.tenant_id, run.attempts)

    async def renew_claim(self, run: Run, worker_id: str, lease_seconds: float) -> bool:
        """Extend ``worker_id``'s claim on the run; False when the claim was lost (stop executing it)."""
        return await self._changed(
            update(Run)
            .where(*_the_run(run), *self._held_by(run, worker_id))
            .values(claim_expires_at=_later(self._now(), lease_seconds))
        )

    async def requeue(self, run: Run, worker_id: str, delay_seconds: float) -> None:
        """Give the claim back (not counted as an attempt); the run is claimable again after ``delay_seconds``.

        Does nothing when ``worker_id`` no longer holds the run. Frees the thread if the run held it.
        """
        async with self._sessions.begin() as session:
            changed = await session.execute(
                update(Run)
                .where(*_the_run(run), *self._held_by(run, worker_id))
                .values(
                    status="queued",
                    claimed_by=None,
                    claim_expires_at=None,
                    attempts=Run.attempts - 1,
                    not_before=_later(self._now(), delay_seconds),
                )
                .execution_options(synchronize_session=False)
            )
            if changed.rowcount == 1:
                await session.execute(_release_lease(run.tenant_id, run.thread_id, run.run_id))

    @staticmethod
    def _held_by(run: Run, worker_id: str) -> tuple[ColumnElement[bool], ...]:
        return Run.status == "running", Run.claimed_by == worker_id, Run.attempts == run.attempts

    async def sweep_abandoned(self, grace_seconds: float) -> int:
        """Housekeeping after crashed replicas; returns how many runs it failed.

        A wait/stream run cannot be resumed (its client is gone with the replica): one still active
        ``grace_seconds`` after it was created without holding a live thread lease is failed with
        RUN_ABANDONED. Thread leases expired for more than ``grace_seconds`` are freed, so a thread
        whose run crashed reads IDLE again.
        """
        now = self._now()
        cutoff = _later(now, -grace_seconds)
        async with self._sessions.begin() as session:
            failed = await session.execute(
                update(Run)
                .where(*_orphaned(now), Run.created_at < cutoff)
                .values(status="failed", error=_ABANDONED, finished_at=now)
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                update(Thread)
                .where(Thread.lease_run_id.is_not(None), Thread.lease_expires_at < cutoff)
                .values(lease_run_id=None, lease_expires_at=None, status="IDLE")
                .execution_options(synchronize_session=False)
            )
        return failed.rowcount

    # -- webhooks --------------------------------------------------------------------------------------

    async def due_webhooks(self, limit: int, lease_seconds: float = 60.0) -> list[Run]:
        """Up to ``limit`` finished runs whose webhook is due, leased to the caller.

        Each returned run's next attempt is pushed ``lease_seconds`` ahead, so other workers skip it
        while this one delivers (and retry it should this one die before recording the outcome).
        """
        now = self._now()
        async with self._sessions() as session:
            due = list(
                await session.scalars(
                    select(Run)
                    .where(Run.webhook_status == "pending", Run.webhook_next_at <= now)
                    .order_by(Run.webhook_next_at)
                    .limit(limit)
                )
            )
        leased = []
        for run in due:
            lease = {"webhook_next_at": _later(now, lease_seconds)}
            if await self._changed(
                update(Run)
                .where(*_the_run(run), Run.webhook_status == "pending", Run.webhook_next_at <= now)
                .values(**lease, updated_at=Run.updated_at)
            ):
                _apply(run, lease)
                leased.append(run)
        return leased

    async def record_webhook(
        self, run: Run, *, delivered: bool, attempts: int, error: str | None, next_at: datetime | None
    ) -> None:
        """Record one delivery attempt: delivered, retried at ``next_at``, or (no ``next_at``) failed for good."""
        values = {
            "webhook_status": "delivered" if delivered else "pending" if next_at is not None else "failed",
            "webhook_attempts": attempts,
            "webhook_error": error,
            "webhook_next_at": None if delivered else next_at,
        }
        if await self._changed(
            update(Run)
            .where(*_the_run(run), Run.webhook_status == "pending", Run.webhook_attempts == run.webhook_attempts)
            .values(**values, updated_at=Run.updated_at)
        ):
            _apply(run, values)

    async def _changed(self, statement: Update) -> bool:
        """Run one compare-and-set UPDATE in its own transaction; True when it matched a row."""
        async with self._sessions.begin() as session:
            result = await session.execute(statement.execution_options(synchronize_session=False))
            return result.rowcount == 1
