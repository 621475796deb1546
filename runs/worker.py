"""The async-run worker: one per replica; together they drain the durable queue kept in the runs table.

A worker claims a queued run, takes the thread lease for it, and calls ``execute(run)`` while it renews
both every third of ``run_lease_seconds``. ``execute`` finishes the run itself (``RunStore.complete`` or
``fail``, which also free the thread); it need not take the thread lease (taking it again is harmless).
When a renewal finds the claim or the lease lost, the execution is cancelled. A worker that dies stops
renewing: its runs become claimable by any worker once the claim expires. A worker that is stopped hands
its runs back at once. Once per lease period the worker also sweeps up after crashed replicas
(``RunStore.sweep_abandoned``) and deletes run events past their TTL.

Finished runs' webhooks are delivered by a second loop; each attempt's outcome and the next retry time
are stored on the run, so retries survive restarts and are spread over every replica's worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx

from runs.observed import BacklogGauge
from runs.settings import RunsSettings
from runs.webhooks import deliver, next_delay
from store.models import Run, utcnow
from store.runs import RunStore

logger = logging.getLogger("mas.runs")

INTERNAL_ERROR = "INTERNAL_ERROR"


async def status_body(run: Run) -> bytes:
    """The default webhook body: which run, and how it ended."""
    return json.dumps({"run_id": run.run_id, "thread_id": run.thread_id, "status": run.status}).encode()


def new_worker_id() -> str:
    """Unique per process, and readable in the runs table (which host and pid hold a claim)."""
    return f"{uuid.uuid4().hex[:8]}@{socket.gethostname()}:{os.getpid()}"[:100]


def webhook_event(run: Run) -> str:
    return {"completed": "run.completed", "cancelled": "run.cancelled", "handoff": "run.handoff"}.get(run.status, "run.failed")


async def _wait(event: asyncio.Event, timeout: float) -> None:
    # asyncio.timeout, not wait_for: on Python 3.11, wait_for swallows a cancellation that arrives as the event is set.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class RunQueueWorker:
    def __init__(
        self,
        store: RunStore,
        execute: Callable[[Run], Awaitable[None]],
        settings: RunsSettings,
        webhook_secret: str,
        webhook_body: Callable[[Run], Awaitable[bytes]] | None = None,
        worker_id: str | None = None,
        http: httpx.AsyncClient | None = None,
        housekeeping: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.worker_id = worker_id or new_worker_id()
        self._store = store
        self._execute = execute
        self._settings = settings
        self._webhook_secret = webhook_secret
        self._webhook_body = webhook_body or status_body
        self._housekeeping = housekeeping
        self._http = http or httpx.AsyncClient()
        self._owns_http = http is None
        self._loops: list[asyncio.Task[None]] = []
        self._executions: set[asyncio.Task[None]] = set()
        self._runs_due = asyncio.Event()
        self._webhooks_due = asyncio.Event()
        self._next_sweep = 0.0
        self._backlog = BacklogGauge("runs", store.backlog)
        self._stopping = False

    def start(self) -> None:
        """Start polling on the running event loop (idempotent)."""
        if self._loops:
            return
        self._loops = [
            asyncio.create_task(self._poll_runs(), name=f"run-worker {self.worker_id}"),
            asyncio.create_task(self._poll_webhooks(), name=f"webhooks {self.worker_id}"),
        ]

    def wake(self) -> None:
        """A run was queued: look for it now rather than at the next poll."""
        self._runs_due.set()

    async def stop(self) -> None:
        """Stop polling, cancel the executions in flight and hand their runs back to the queue (final: no restart).

        The loops may first finish the step they are in (a claim being taken is not left dangling, a webhook
        being sent gets its outcome recorded), for at most one webhook timeout.
        """
        self._stopping = True
        self._runs_due.set()
        self._webhooks_due.set()
        loops, self._loops = self._loops, []
        if loops:
            _, late = await asyncio.wait(loops, timeout=self._settings.webhook_timeout_seconds)
            for task in late:
                await _cancel(task)
        for task in list(self._executions):
            task.cancel()
        await asyncio.gather(*self._executions, return_exceptions=True)
        if self._owns_http:
            await self._http.aclose()

    # -- runs ------------------------------------------------------------------------------------------

    async def _poll_runs(self) -> None:
        while not self._stopping:
            self._runs_due.clear()
            try:
                await self._claim_runs()
                await self._sweep_when_due()
                await self._backlog.sample_when_due()
            except Exception:  # the database is unreachable, say: try again at the next poll
                logger.exception("run worker %s: polling the run queue failed", self.worker_id)
            await _wait(self._runs_due, self._settings.worker_poll_seconds)

    async def _claim_runs(self) -> None:
        settings = self._settings
        while not self._stopping and len(self._executions) < settings.worker_concurrency:
            run = await self._store.claim_next(self.worker_id, settings.run_lease_seconds, max_attempts=settings.run_max_attempts)
            if run is None:
                return
            task = asyncio.create_task(self._run_claimed(run), name=f"run {run.run_id}")
            self._executions.add(task)
            task.add_done_callback(self._execution_ended)

    def _execution_ended(self, task: asyncio.Task[None]) -> None:
        self._executions.discard(task)
        self._runs_due.set()  # a slot is free
        self._webhooks_due.set()  # the run may have a webhook to send

    async def _sweep_when_due(self) -> None:
        """Fail runs orphaned by crashed replicas, once per lease period."""
        loop_time = asyncio.get_running_loop().time()
        if loop_time < self._next_sweep:
            return
        self._next_sweep = loop_time + self._settings.run_lease_seconds
        if failed := await self._store.sweep_abandoned(grace_seconds=self._settings.run_lease_seconds):
            logger.warning("run worker %s: failed %d runs orphaned by a stopped replica", self.worker_id, failed)
        if self._housekeeping is not None:
            await self._housekeeping()

    async def _run_claimed(self, run: Run) -> None:
        settings = self._settings
        try:
            if not await self._store.acquire_thread(run.tenant_id, run.thread_id, run.run_id, settings.run_lease_seconds):
                logger.info("run %s (tenant %s): thread %s is busy, run requeued", run.run_id, run.tenant_id, run.thread_id)
                await self._store.requeue(run, self.worker_id, settings.worker_poll_seconds)
            elif not await self._execute_holding(run):
                logger.warning("run %s (tenant %s): claim or thread lease lost, execution cancelled", run.run_id, run.tenant_id)
                await self._give_back(run, delay_seconds=settings.worker_poll_seconds)
        except asyncio.CancelledError:  # the worker is stopping: another worker may take the run at once
            await self._give_back(run, delay_seconds=0)
            raise
        except Exception:  # the claim expires and another attempt follows
            logger.exception("run %s (tenant %s): could not be started", run.run_id, run.tenant_id)

    async def _execute_holding(self, run: Run) -> bool:
        """Execute the run while renewing its claim and thread lease; False (execution cancelled) when either is lost."""
        execution = asyncio.create_task(self._execute_safely(run))
        try:
            return await self._renew_until_done(run, execution)
        finally:
            await _cancel(execution)  # a no-op when it ended by itself

    async def _renew_until_done(self, run: Run, execution: asyncio.Task[None]) -> bool:
        """True when the execution ended, False as soon as a renewal finds the claim or the lease lost."""
        lease = self._settings.run_lease_seconds
        while True:
            done, _ = await asyncio.wait({execution}, timeout=lease / 3)
            if done:
                return True
            try:
                claim = await self._store.renew_claim(run, self.worker_id, lease)
                thread = await self._store.renew_thread(run.tenant_id, run.thread_id, run.run_id, lease)
            except Exception:  # not lost, just not renewed this time; the next renewal may succeed
                logger.exception("run %s (tenant %s): renewing the claim failed", run.run_id, run.tenant_id)
                continue
            if not (claim and thread):
                return False

    async def _execute_safely(self, run: Run) -> None:
        """``execute(run)``, then fail the run if it is still unfinished under this claim (a bug, or a crash in it)."""
        try:
            await self._execute(run)
            error = {"code": INTERNAL_ERROR, "message": "the run ended without a result"}
        except Exception:
            logger.exception("run %s (tenant %s): execution raised", run.run_id, run.tenant_id)
            error = {"code": INTERNAL_ERROR, "message": "the run failed unexpectedly"}
        try:
            if await self._store.fail(run, error):
                logger.error("run %s (tenant %s): failed by the worker: %s", run.run_id, run.tenant_id, error["message"])
        except Exception:
            logger.exception("run %s (tenant %s): could not be marked failed", run.run_id, run.tenant_id)

    async def _give_back(self, run: Run, delay_seconds: float) -> None:
        try:
            await self._store.requeue(run, self.worker_id, delay_seconds)
        except Exception:  # the claim then expires instead
            logger.exception("run %s (tenant %s): could not be requeued", run.run_id, run.tenant_id)

    # -- webhooks --------------------------------------------------------------------------------------

    async def _poll_webhooks(self) -> None:
        while not self._stopping:
            self._webhooks_due.clear()
            try:
                await self._deliver_due()
            except Exception:
                logger.exception("run worker %s: delivering webhooks failed", self.worker_id)
            await _wait(self._webhooks_due, self._settings.worker_poll_seconds)

    async def _deliver_due(self) -> None:
        settings = self._settings
        limit = settings.worker_concurrency
        # Leased for longer than one attempt can take, so no other worker sends it meanwhile.
        runs = await self._store.due_webhooks(limit, lease_seconds=3 * settings.webhook_timeout_seconds)
        await asyncio.gather(*(self._deliver(run) for run in runs))
        if len(runs) == limit:
            self._webhooks_due.set()  # there may be more

    async def _deliver(self, run: Run) -> None:
        settings = self._settings
        event = webhook_event(run)
        try:
            body = await self._webhook_body(run)
            delivered, error = await deliver(
                self._http,
                run.webhook_url,
                body,
                self._webhook_secret,
                event=event,
                delivery_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"mas:{run.run_id}:{event}")),
                timeout=settings.webhook_timeout_seconds,
            )
        except Exception as exc:  # building the body failed: counts as a failed attempt
            # The type only, in the log and in the stored error: a body that failed to build may quote the run's text.
            logger.warning("run %s (tenant %s): webhook body failed: %s", run.run_id, run.tenant_id, type(exc).__name__)
            delivered, error = False, f"could not build the webhook body: {type(exc).__name__}"
        attempts = run.webhook_attempts + 1
        next_at = None
        if not delivered and attempts < settings.webhook_attempts:
            next_at = utcnow() + timedelta(seconds=next_delay(attempts, settings.webhook_backoff_seconds))
        await self._store.record_webhook(run, delivered=delivered, attempts=attempts, error=error, next_at=next_at)
        if not delivered:
            outcome = f"retried at {next_at.isoformat()}" if next_at else "given up"
            logger.warning("run %s (tenant %s): webhook attempt %d failed (%s), %s", run.run_id, run.tenant_id, attempts, error, outcome)
