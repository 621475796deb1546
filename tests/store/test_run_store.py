"""The run store on every relational backend: thread leases, atomic completion, the async-run queue, webhooks."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from runtime.services import Services
from runtime.settings import Settings
from store.db import make_engine, make_sessionmaker
from store.models import Run, utcnow
from store.runs import RUN_ABANDONED, RunStore, UnknownThread

LEASE = 30.0
TURN = [{"role": "user", "content": "水光针多少钱"}, {"role": "assistant", "content": "您好，水光针参考价 ¥1,280。"}]


class ManualClock:
    """A test double for the store's clock: time only moves when the test says so."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(services: Services, clock: ManualClock) -> RunStore:
    return RunStore(make_sessionmaker(services.engine), clock=clock)


async def new_thread(services: Services, tenant_id: str = "t1") -> str:
    await services.tenants.upsert(tenant_id, {"tenant_name": tenant_id, "status": "ACTIVE"})
    return (await services.threads.create(tenant_id, {})).thread_id


async def started_run(store: RunStore, thread_id: str, mode: str = "wait") -> Run:
    """A wait (or stream) run as a replica starts it: running, holding the thread's lease."""
    run = await store.start("t1", thread_id, LEASE, mode=mode, assistant_id=None, input=[{"role": "user", "content": "在吗"}],
                            metadata={}, requested_model=None)
    assert run is not None
    return run


async def new_run(
    store: RunStore, thread_id: str, mode: str = "async", webhook_url: str | None = None, tenant_id: str = "t1"
) -> Run:
    return await store.create(
        tenant_id,
        thread_id,
        assistant_id=None,
        mode=mode,  # type: ignore[arg-type]
        input=[{"role": "user", "content": "在吗"}],
        metadata={"channel": "wechat"},
        requested_model=None,
        webhook_url=webhook_url,
        status="queued",
    )


async def reread(store: RunStore, run: Run) -> Run:
    stored = await store.get(run.tenant_id, run.thread_id, run.run_id)
    assert stored is not None
    return stored


async def complete(store: RunStore, run: Run, messages: list[dict[str, Any]] = TURN) -> bool:
    return await store.complete(
        run, result={"response": "ok"}, model="offline", input_tokens=12, output_tokens=34, cost_usd=0.001, messages=messages
    )


# -- runs and tenants ------------------------------------------------------------------------------------


async def test_a_run_is_stored_with_its_request_and_visible_only_to_its_tenant(services: Services, store: RunStore) -> None:
    thread_id = await new_thread(services)
    await new_thread(services, "t2")
    run = await store.create(
        "t1", thread_id, assistant_id=None, mode="async", input=[{"role": "user", "content": "想做光子嫩肤"}],
        metadata={"source": "crm"}, requested_model="chat-fast", webhook_url="https://brand.example/hook", status="queued",
    )
    stored = await reread(store, run)
    assert (stored.status, stored.mode, stored.attempts, stored.webhook_status) == ("queued", "async", 0, "none")
    assert (stored.input, stored.metadata_, stored.requested_model) == (run.input, {"source": "crm"}, "chat-fast")
    assert await store.get("t2", thread_id, run.run_id) is None
    assert await store.get("t1", "another-thread", run.run_id) is None
    with pytest.raises(UnknownThread):
        await new_run(store, thread_id, tenant_id="t2")  # t2 cannot start a run on t1's thread


async def test_a_wait_run_created_running_has_started(services: Services, store: RunStore, clock: ManualClock) -> None:
    thread_id = await new_thread(services)
    run = await store.create(
        "t1", thread_id, assistant_id=None, mode="wait", input=[], metadata={}, requested_model=None, webhook_url=None,
        status="running",
    )
    assert (await reread(store, run)).started_at == clock.now


# -- the thread lease ------------------------------------------------------------------------------------


async def test_a_second_run_cannot_take_a_busy_thread_until_its_lease_expires(
    services: Services, store: RunStore, clock: ManualClock
) -> None:
    thread_id = await new_thread(services)
    assert await store.acquire_thread("t1", thread_id, "run-1", LEASE)
    assert (await services.threads.get("t1", thread_id)).status == "RUNNING"
    assert not await store.acquire_thread("t1", thread_id, "run-2", LEASE)
    assert await store.acquire_thread("t1", thread_id, "run-1", LEASE)  # the holder again: still its own
    clock.advance(LEASE + 1)  # run-1 crashed and stopped renewing
    assert await store.acquire_thread("t1", thread_id, "run-2", LEASE)
    assert not await store.renew_thread("t1", thread_id, "run-1", LEASE)


async def test_renewing_keeps_the_lease_past_its_first_expiry(services: Services, store: RunStore, clock: ManualClock) -> None:
    thread_id = await new_thread(services)
    assert await store.acquire_thread("t1", thread_id, "run-1", LEASE)
    clock.advance(LEASE * 2 / 3)
    assert await store.renew_thread("t1", thread_id, "run-1", LEASE)
    clock.advance(LEASE * 2 / 3)
    assert not await store.acquire_thread("t1", thread_id, "run-2", LEASE)


async def test_a_finished_run_frees_only_its_own_thread(services: Services, store: RunStore) -> None:
    thread_id = await new_thread(services)
    await new_thread(services, "t2")
    assert not await store.acquire_thread("t2", thread_id, "run-x", LEASE)  # another tenant's thread
    holder = await started_run(store, thread_id)
    assert await store.start("t1", thread_id, LEASE, mode="wait", assistant_id=None, input=[], metadata={},
                             requested_model=None) is None  # busy: nothing written
    other = await new_run(store, thread_id, mode="wait")
    assert await store.fail(other, {"code": "X", "message": "a run that never held the thread"})
    assert (await services.threads.get("t1", thread_id)).lease_run_id == holder.run_id
    assert await store.fail(holder, {"code": "X", "message": "done"})
    thread = await services.threads.get("t1", thread_id)
    assert (thread.status, thread.lease_run_id, thread.lease_expires_at) == ("IDLE", None, None)
    assert await started_run(store, thread_id)


# -- finishing a run -------------------------------------------------------------------------------------


async def test_complete_writes_the_turn_the_status_and_frees_the_thread_together(services: Services, store: RunStore) -> None:
    thread_id = await new_thread(services)
    run = await started_run(store, thread_id)
    assert (await reread(store, run)).status == "running"

    assert await complete(store, run)
    stored = await reread(store, run)
    assert (stored.status, stored.result, stored.model, stored.input_tokens, stored.output_tokens) == (
        "completed", {"response": "ok"}, "offline", 12, 34,
    )
    assert stored.finished_at is not None and stored.webhook_status == "none"
    messages = await services.threads.messages("t1", thread_id, limit=10)
    assert [(m.role, m.content, m.run_id) for m in reversed(messages)] == [
        ("user", TURN[0]["content"], run.run_id), ("assistant", TURN[1]["content"], run.run_id),
    ]
    assert (await services.threads.get("t1", thread_id)).status == "IDLE"
    assert await store.acquire_thread("t1", thread_id, "next-run", LEASE)

    assert not await complete(store, run)  # a retry of the same completion writes nothing twice
    assert len(await services.threads.messages("t1", thread_id, limit=10)) == 2


async def test_a_completion_that_cannot_be_written_changes_nothing(services: Services, store: RunStore) -> None:
    thread_id = await new_thread(services)
    run = await started_run(store, thread_id)
    clash = {"message_id": "same-id"}  # message ids are unique: the second insert fails mid-transaction
    with pytest.raises(IntegrityError):
        await complete(store, run, [TURN[0] | clash, TURN[1] | clash])
    assert (await reread(store, run)).status == "running"
    assert await services.threads.messages("t1", thread_id, limit=10) == []
    assert not await store.acquire_thread("t1", thread_id, "other-run", LEASE)  # still leased to the run


async def test_fail_records_the_error_frees_the_thread_and_schedules_the_webhook(services: Services, store: RunStore) -> None:
    thread_id = await new_thread(services)
    await new_run(store, thread_id, webhook_url="https://brand.example/hook")
    run = await store.claim_next("w1", LEASE)
    assert await store.acquire_thread("t1", thread_id, run.run_id, LEASE)
    assert await store.fail(run, {"code": "LLM_UNAVAILABLE", "message": "no model answered"})
    stored = await reread(store, run)
    assert (stored.status, stored.error["code"], stored.webhook_status) == ("failed", "LLM_UNAVAILABLE", "pending")
    assert (await services.threads.get("t1", thread_id)).status == "IDLE"
    assert [due.run_id for due in await store.due_webhooks(10)] == [run.run_id]
    assert not await complete(store, run)  # a failed run stays failed


# -- the async-run queue ---------------------------------------------------------------------------------


async def test_workers_claim_the_oldest_due_async_run_and_a_requeued_one_waits(
    services: Services, store: RunStore, clock: ManualClock
) -> None:
    thread_id = await new_thread(services)
    await new_run(store, thread_id, mode="wait")  # executed by its request, never by a worker
    first, second = await new_run(store, thread_id), await new_run(store, thread_id)

    claimed = await store.claim_next("w1", LEASE)
    assert (claimed.run_id, claimed.status, claimed.claimed_by, claimed.attempts) == (first.run_id, "running", "w1", 1)
    assert claimed.claim_expires_at == clock.now + timedelta(seconds=LEASE)
    await store.requeue(claimed, "w1", delay_seconds=5)  # e.g. its thread was busy
    assert (await store.claim_next("w2", LEASE)).run_id == second.run_id
    assert await store.claim_next("w2", LEASE) is None
    clock.advance(5)
    again = await store.claim_next("w2", LEASE)
    assert (again.run_id, again.attempts) == (first.run_id, 1)  # handing a run back is not a failed attempt


async def test_a_run_whose_worker_died_is_taken_over_and_the_old_claim_is_void(
    services: Services, store: RunStore, clock: ManualClock
) -> None:
    thread_id = await new_thread(services)
    await new_run(store, thread_id)
    dead = await store.claim_next("w1", LEASE)
    clock.advance(LEASE / 2)
    assert await store.claim_next("w2", LEASE) is None  # the claim is still live
    clock.advance(LEASE)
    alive = await store.claim_next("w2", LEASE)
    assert (alive.run_id, alive.claimed_by, alive.attempts) == (dead.run_id, "w2", 2)
    assert not await store.renew_claim(dead, "w1", LEASE)
    assert await store.renew_claim(alive, "w2", LEASE)
    assert not await complete(store, dead)  # the first worker, back from a pause, writes nothing
    assert await services.threads.messages("t1", thread_id, limit=10) == []
    assert await complete(store, alive)


async def test_a_run_that_keeps_killing_its_worker_is_abandoned(services: Services, store: RunStore, clock: ManualClock) -> None:
    thread_id = await new_thread(services)
    run = await new_run(store, thread_id, webhook_url="https://brand.example/hook")
    for _ in range(2):
        assert (await store.claim_next("w", LEASE, max_attempts=2)).run_id == run.run_id
        clock.advance(LEASE + 1)
    assert await store.claim_next("w", LEASE, max_attempts=2) is None
    stored = await reread(store, run)
    assert (stored.status, stored.error["code"], stored.attempts, stored.webhook_status) == ("failed", RUN_ABANDONED, 2, "pending")


async def test_racing_claims_never_hand_one_run_to_two_workers(services: Services, store: RunStore) -> None:
    thread_id = await new_thread(services)
    runs = {(await new_run(store, thread_id)).run_id for _ in range(3)}
    claims = await asyncio.gather(*(store.claim_next(f"w{i}", LEASE) for i in range(8)))
    claimed = [run.run_id for run in claims if run is not None]
    assert sorted(claimed) == sorted(runs)


async def test_workers_on_separate_connection_pools_never_share_a_run(
    services: Services, store: RunStore, settings: Settings
) -> None:
    thread_id = await new_thread(services)
    runs = {(await new_run(store, thread_id)).run_id for _ in range(12)}
    engines = [make_engine(settings.effective_database_url) for _ in range(2)]
    try:
        stores = [RunStore(make_sessionmaker(engine)) for engine in engines]

        async def drain(worker: str, worker_store: RunStore) -> list[str]:
            taken = []
            while (run := await worker_store.claim_next(worker, LEASE)) is not None:
                taken.append(run.run_id)
            return taken

        taken = await asyncio.gather(*(drain(f"w{i}", stores[i % 2]) for i in range(4)))
    finally:
        for engine in engines:
            await engine.dispose()
    claimed = [run_id for worker in taken for run_id in worker]
    assert sorted(claimed) == sorted(runs)


async def test_the_sweep_fails_interactive_runs_of_a_crashed_replica_and_frees_their_threads(
    services: Services, store: RunStore, clock: ManualClock
) -> None:
    crashed_thread, live_thread = await new_thread(services), await new_thread(services)
    crashed, live = await started_run(store, crashed_thread, mode="stream"), await started_run(store, live_thread)
    queued_async = await new_run(store, crashed_thread)
    for _ in range(3):  # only the live replica renews; the other lease expired more than a grace period ago
        clock.advance(LEASE * 3 / 4)
        assert await store.renew_thread("t1", live_thread, live.run_id, LEASE)

    assert await store.sweep_abandoned(grace_seconds=LEASE) == 1
    assert ((await reread(store, crashed)).status, (await reread(store, crashed)).error["code"]) == ("failed", RUN_ABANDONED)
    assert (await reread(store, live)).status == "running"
    assert (await reread(store, queued_async)).status == "queued"  # a worker will run it
    assert (await services.threads.get("t1", crashed_thread)).status == "IDLE"
    assert (await services.threads.get("t1", live_thread)).status == "RUNNING"


# -- webhooks --------------------------------------------------------------------------------------------


async def test_webhook_deliveries_are_leased_retried_when_due_and_recorded(
    services: Services, store: RunStore, clock: ManualClock
) -> None:
    thread_id = await new_thread(services)
    await new_run(store, thread_id, webhook_url="https://brand.example/hook")
    await new_run(store, thread_id)  # no webhook asked
    for worker in ("w1", "w2"):
        run = await store.claim_next(worker, LEASE)
        assert await complete(store, run)

    due = await store.due_webhooks(10)
    assert [run.webhook_url for run in due] == ["https://brand.example/hook"]
    assert await store.due_webhooks(10) == []  # leased to the first caller
    run = due[0]
    await store.record_webhook(run, delivered=False, attempts=1, error="HTTP 503", next_at=clock.now + timedelta(seconds=60))
    clock.advance(59)
    assert await store.due_webhooks(10) == []
    clock.advance(2)
    (retry,) = await store.due_webhooks(10)
    assert (retry.webhook_attempts, retry.webhook_error) == (1, "HTTP 503")
    await store.record_webhook(retry, delivered=True, attempts=2, error=None, next_at=None)
    stored = await reread(store, run)
    assert (stored.webhook_status, stored.webhook_attempts, stored.webhook_error) == ("delivered", 2, None)
    clock.advance(3600)
    assert await store.due_webhooks(10) == []


async def test_a_webhook_out_of_attempts_is_failed_for_good(services: Services, store: RunStore, clock: ManualClock) -> None:
    thread_id = await new_thread(services)
    await new_run(store, thread_id, webhook_url="https://brand.example/hook")
    assert await complete(store, await store.claim_next("w", LEASE))
    (run,) = await store.due_webhooks(10)
    await store.record_webhook(run, delivered=False, attempts=6, error="ConnectError", next_at=None)
    clock.advance(3600)
    assert await store.due_webhooks(10) == []
    assert (await reread(store, run)).webhook_status == "failed"
