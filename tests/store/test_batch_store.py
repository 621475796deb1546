"""The batch store on every relational backend: items claimed with a lease, claimed again when their worker died, each
outcome written once; per-tenant batch limits; cancel; completion."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from runs.batches import BatchRunner, quiet_hours_end
from runtime.services import Services
from runtime.settings import Settings
from store.batches import ITEM_ABANDONED, BatchStore
from store.db import make_sessionmaker
from store.models import Batch, BatchItem
from tests.api.test_runs import eventually


@pytest.fixture
async def store(services: Services) -> BatchStore:
    for tenant in ("t1", "t2"):
        await services.tenants.upsert(tenant, {"tenant_name": tenant})
    return BatchStore(make_sessionmaker(services.engine))


async def test_an_item_whose_worker_died_is_claimed_again_and_written_once(store: BatchStore) -> None:
    batch = await store.create("t1", "evaluate", {"agent": "sentiment"}, [{"n": i} for i in range(3)])
    dead_claim, dead = await store.claim(batch, 2, lease_seconds=0.05, max_attempts=3)
    assert [item.index for item in dead] == [0, 1]
    await asyncio.sleep(0.1)  # the worker holding them died: their lease runs out
    (refreshed,) = await store.runnable(per_tenant=1)
    claim, again = await store.claim(refreshed, 5, lease_seconds=30, max_attempts=3)
    assert [(item.index, item.attempts) for item in again] == [(0, 2), (1, 2), (2, 1)]
    assert not await store.finish(dead[0], dead_claim, result={"late": True})  # the dead worker's write is refused
    for item in again:
        assert await store.finish(item, claim, result={"n": item.index})
    assert await store.settle(batch.batch_id, await store.counts(batch.batch_id)) and (await store.get("t1", batch.batch_id)).state == "completed"  # type: ignore[union-attr]
    assert [item.result for item in await store.items("t1", batch.batch_id, -1, 10)] == [{"n": 0}, {"n": 1}, {"n": 2}]


async def test_an_item_that_keeps_killing_its_worker_fails_as_abandoned(store: BatchStore) -> None:
    batch = await store.create("t1", "evaluate", {}, [{"n": 0}])
    for _ in range(2):
        await store.claim(batch, 1, lease_seconds=0.01, max_attempts=2)
        await asyncio.sleep(0.05)
    _, none = await store.claim(batch, 1, lease_seconds=30, max_attempts=2)
    (item,) = await store.items("t1", batch.batch_id, -1, 1)
    assert none == [] and item.state == "failed" and item.error["code"] == ITEM_ABANDONED  # type: ignore[index]


async def test_a_tenant_runs_one_batch_at_a_time_and_others_are_not_held_up(store: BatchStore) -> None:
    first = await store.create("t1", "evaluate", {}, [1])
    await store.create("t1", "evaluate", {}, [2])
    other = await store.create("t2", "evaluate", {}, [3])
    await store.claim(first, 1, 30, 3)
    assert {batch.batch_id for batch in await store.runnable(per_tenant=1)} == {first.batch_id, other.batch_id}


async def test_cancel_stops_pending_items_and_only_active_batches(store: BatchStore) -> None:
    batch = await store.create("t1", "evaluate", {}, [1, 2, 3])
    assert not await store.cancel("t2", batch.batch_id)  # another tenant's batch
    assert await store.cancel("t1", batch.batch_id) and not await store.cancel("t1", batch.batch_id)
    assert await store.counts(batch.batch_id) == {"cancelled": 3} and await store.runnable(per_tenant=1) == []


@pytest.mark.parametrize(("now", "window", "until"), [
    ("2026-12-05T22:30", {"start": "21:00", "end": "09:00"}, "2026-12-06T09:00"),
    ("2026-12-05T08:00", {"start": "21:00", "end": "09:00"}, "2026-12-05T09:00"),
    ("2026-12-05T12:00", {"start": "21:00", "end": "09:00"}, None),
    ("2026-12-05T13:30", {"start": "13:00", "end": "14:00"}, "2026-12-05T14:00"),
    ("2026-12-05T13:30", {"start": "bad"}, None),
])
def test_quiet_hours_hold_a_message_until_they_end(now: str, window: dict[str, str], until: str | None) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    expected = datetime.fromisoformat(until).replace(tzinfo=shanghai) if until else None
    assert quiet_hours_end(window, datetime.fromisoformat(now).replace(tzinfo=shanghai)) == expected


@pytest.mark.parametrize(("live_runs", "chunk"), [(0, 4), (2, 1)])
async def test_a_batch_gives_way_to_live_turns(store: BatchStore, settings: Settings, live_runs: int, chunk: int) -> None:
    """While interactive runs stay in flight past the yield time, a batch goes one item at a time."""
    batch = await store.create("t1", "evaluate", {}, list(range(6)))
    sizes: list[int] = []

    async def execute(batch: Batch, claim: str, items: list[BatchItem]) -> None:
        sizes.append(len(items))
        for item in items:
            await store.finish(item, claim, result={})

    async def live() -> int:
        return live_runs

    tuned = settings.model_copy(update={"batch_concurrency": 4, "batch_yield_seconds": 0.05})
    runner = BatchRunner(store, execute, tuned, live=live)
    await runner.step()
    await eventually(lambda: asyncio.sleep(0, result=bool(sizes)))
    await runner.stop()
    assert sizes[0] == chunk and (await store.get("t1", batch.batch_id)).state == "running"  # type: ignore[union-attr]
