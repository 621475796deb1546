"""A customer's rights over their personal data: a copy of everything held (``export``), and erasure: every store
forgets a thread, or all of a customer's threads, and says how much.

An erasure is stored with its threads before any store is touched; each thread is then erased step by step, every
step idempotent, its counts added to the receipt as it ends. A replica that dies half-way leaves the erasure pending
with an expired claim: the run worker's housekeeping (``resume``) takes it up again, on any replica. It is reported
done only when every thread is gone from every store.

Per thread: take its run lease (no new turn starts; a turn in flight is waited for), erase the run events, then the
relational rows (messages, runs, campaign drafts, the profile), then memory (window, memories, vectors), then the
thread row, then memory once more: a memory write of the last turn, still in flight when the lease was taken, would
otherwise outlive the erasure.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from memory.types import MemoryRecord
from runs.errors import ServiceError
from store.erasures import ErasureStore
from store.models import Erasure, Message, Run, Thread, utcnow
from store.run_events import RunEventLog
from store.runs import RunStore
from telemetry.metrics import PERSONAL_DATA_REMOVED, record

log = logging.getLogger("mas.erasure")

Subject = Literal["phone", "external_user_id"]  # how a customer is named (a thread is erased by its id)
RUN_ID_BATCH = 500
EXPORT_LIMIT = 10_000  # messages, runs and memories, each


class CustomerMemory(Protocol):
    async def erase_thread(self, tenant_id: str, thread_id: str) -> dict[str, int]: ...

    async def thread_memories(self, tenant_id: str, thread_id: str, limit: int) -> list[MemoryRecord]: ...


@dataclass(frozen=True)
class Export:
    exported_at: datetime
    thread: Thread
    messages: list[Message]
    runs: list[Run]
    memories: list[MemoryRecord]
    truncated: bool


class ThreadBusyTooLong(RuntimeError):
    pass


class PersonalDataService:
    def __init__(self, store: ErasureStore, runs: RunStore, memory: CustomerMemory, events: RunEventLog,
                 lease_seconds: float, wait_seconds: float) -> None:
        self._store = store
        self._runs = runs
        self._memory = memory
        self._events = events
        self._lease_seconds = lease_seconds
        self._wait_seconds = wait_seconds
        self._claim_seconds = max(60.0, 4 * wait_seconds)

    async def export(self, thread: Thread) -> Export:
        """Everything held about the customer of ``thread``: its profile, messages, runs and memories."""
        messages, runs = await self._store.export_rows(thread.tenant_id, thread.thread_id, EXPORT_LIMIT)
        memories = await self._memory.thread_memories(thread.tenant_id, thread.thread_id, EXPORT_LIMIT)
        return Export(utcnow(), thread, messages, runs, memories,
                      truncated=max(len(messages), len(runs), len(memories)) >= EXPORT_LIMIT)

    async def erase_thread(self, tenant_id: str, thread_id: str, exists: bool) -> Erasure:
        """Erases one thread (``exists``: the tenant has it); an erased thread answers its erasure again."""
        erasure = await self._store.of_thread(tenant_id, thread_id)
        if erasure is None:
            if not exists:
                raise ServiceError(404, "THREAD_NOT_FOUND", f"thread '{thread_id}' not found")
            erasure = await self._store.create(tenant_id, "thread", [thread_id])
        return await self.run(erasure)

    async def erase_customer(self, tenant_id: str, subject: Subject, value: str) -> Erasure:
        """Erases every thread of the tenant's customer with this phone number or external user id."""
        threads = await self._store.threads_of_customer(tenant_id, **{subject: value})
        return await self.run(await self._store.create(tenant_id, subject, threads))

    async def get(self, tenant_id: str, erasure_id: str) -> Erasure | None:
        return await self._store.get(tenant_id, erasure_id)

    async def threads(self, erasure_id: str) -> list[str]:
        return await self._store.threads(erasure_id)

    async def run(self, erasure: Erasure) -> Erasure:
        """Erases what is left of ``erasure`` unless another replica holds it; the erasure as it stands after."""
        claimed = await self._store.claim(erasure.erasure_id, self._claim_seconds)
        if claimed is not None:
            try:
                for thread_id in await self._store.threads(erasure.erasure_id, pending_only=True):
                    await self._store.renew(erasure.erasure_id, self._claim_seconds)  # held as long as threads remain
                    await self._erase(claimed, thread_id)
            except Exception as exc:  # a store is down, or a turn outlasted the wait: resumed by housekeeping
                log.warning("erasure %s of tenant %s stopped, to be resumed: %s", erasure.erasure_id, erasure.tenant_id,
                            type(exc).__name__)
                await self._store.finish(erasure.erasure_id, error=f"{type(exc).__name__}: {exc}"[:500])
            else:
                await self._store.finish(erasure.erasure_id)
        return await self._store.get(erasure.tenant_id, erasure.erasure_id) or erasure

    async def resume(self, limit: int = 10) -> int:
        """Erasures left pending by a replica that died or a store that failed, taken up again; how many finished."""
        finished = 0
        for erasure in await self._store.resumable(limit):
            if (await self.run(erasure)).state == "done":
                finished += 1
        return finished

    async def _erase(self, erasure: Erasure, thread_id: str) -> None:
        tenant_id, erasure_id = erasure.tenant_id, erasure.erasure_id
        await self._hold(tenant_id, thread_id, erasure_id)
        run_ids, forgotten = await self._store.run_ids(tenant_id, thread_id), 0
        for start in range(0, len(run_ids), RUN_ID_BATCH):
            forgotten += await self._events.forget(tenant_id, run_ids[start : start + RUN_ID_BATCH])
        await self._count(erasure_id, {f"run_events_{self._events.name}": forgotten})
        await self._count(erasure_id, await self._store.erase_rows(tenant_id, thread_id))
        await self._count(erasure_id, await self._memory.erase_thread(tenant_id, thread_id))
        await self._count(erasure_id, {"threads": await self._store.delete_thread(tenant_id, thread_id)})
        await self._count(erasure_id, await self._memory.erase_thread(tenant_id, thread_id), thread_done=thread_id)

    async def _hold(self, tenant_id: str, thread_id: str, erasure_id: str) -> None:
        """Takes the thread's run lease for the erasure, waiting for a turn in flight; a thread already deleted (a
        resumed erasure) has no lease to take."""
        deadline = asyncio.get_running_loop().time() + self._wait_seconds
        while not await self._runs.acquire_thread(tenant_id, thread_id, erasure_id, self._claim_seconds):
            if await self._runs.holder(tenant_id, thread_id) is None:
                return  # no such thread any more, or another erasure of it holds the lease
            if asyncio.get_running_loop().time() > deadline:
                raise ThreadBusyTooLong(f"a turn kept thread {thread_id} busy for {self._wait_seconds:.0f} s")
            await asyncio.sleep(min(0.5, self._lease_seconds / 10))

    async def _count(self, erasure_id: str, removed: dict[str, int], thread_done: str | None = None) -> None:
        await self._store.add_to_receipt(erasure_id, removed, thread_done)
        for store, count in removed.items():
            if count:
                record(PERSONAL_DATA_REMOVED, count, reason="erasure", store=store)
