"""Batch jobs (``/v1/batches``, ``mas batch``): bulk social copy, re-engagement campaigns and evaluations, run item by
item through the same agents as live traffic (their Serve deployments, through handles), below live turns in priority.

``BatchService`` checks and stores a batch (all its items, before the 202), reports progress and streams results;
``BatchProcessor`` runs a claimed chunk of items; ``BatchRunner`` is the worker loop that picks runnable batches,
claims chunks and hands them to an executor: in-process, the processor itself; on Serve, a Ray task
(``deployments.batches``). Durable: a killed worker's items are claimed again when their lease expires, and an item's
outcome is written once (``store.batches``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, StringConstraints, TypeAdapter, ValidationError

from agents.graph import AgentSet
from agents.social.models import BeautifyRequest, CommentRequest, KeywordsRequest, ReplyRequest
from memory.service import MemoryService, ProductIndex
from memory.types import ProductDoc
from runs.errors import ServiceError
from runs.evaluation import ROWS, EvaluatedAgent, metrics, predict
from runs.observed import BacklogGauge
from runs.settings import RunsSettings
from runs.social import SocialService
from store.batches import BatchStore, unfinished
from store.models import Batch, BatchItem, utcnow
from store.products import ProductStore
from store.tenants import TenantStore
from store.threads import ThreadStore

log = logging.getLogger("mas.batches")

BatchKind = Literal["social.comment", "social.reply", "social.keywords", "social.beautify", "campaign", "evaluate", "reindex"]
ReindexTarget = Literal["products", "memories", "all"]
SOCIAL: dict[str, tuple[type[BaseModel], str]] = {
    "social.comment": (CommentRequest, "comment"), "social.reply": (ReplyRequest, "reply"),
    "social.keywords": (KeywordsRequest, "keywords"), "social.beautify": (BeautifyRequest, "beautify"),
}
MAX_ITEMS = 20_000
ThreadId = Annotated[str, StringConstraints(min_length=1, max_length=64)]  # a campaign's item
REINDEX_PAGE = 100  # ids per reindex item
RESULTS_PAGE = 500
LIVE_POLL_S = 0.25
SHANGHAI = ZoneInfo("Asia/Shanghai")
Execute = Callable[[Batch, str, list[BatchItem]], Awaitable[None]]


def _invalid(index: int, error: ValidationError) -> ServiceError:
    fields = [{"loc": ["body", "items", str(index), *map(str, problem["loc"])], "message": problem["msg"], "type": problem["type"]}
              for problem in error.errors()[:20]]
    return ServiceError(400, "INVALID_ITEM", f"item {index} is not a valid input for this kind of batch",
                        {"fields": fields})


def checked_items(kind: BatchKind, items: list[Any], options: dict[str, Any]) -> list[Any]:
    """Every item valid for its kind, as it will be stored (400 INVALID_ITEM naming the first bad item otherwise)."""
    if kind == "reindex":
        return items  # built by ``reindex_items``
    shape: TypeAdapter[Any] = TypeAdapter(SOCIAL[kind][0] if kind in SOCIAL else ROWS[options["agent"]] if kind == "evaluate"
                                          else ThreadId)
    for index, item in enumerate(items):
        try:
            shape.validate_python(item)
        except ValidationError as exc:
            raise _invalid(index, exc) from None
    return items


async def reindex_items(tenant_id: str, target: ReindexTarget, products: ProductStore, memory: MemoryService) -> list[Any]:
    """A reindex batch's items: the tenant's product ids and memory ids, REINDEX_PAGE to an item."""
    items: list[dict[str, Any]] = []
    if target in ("products", "all"):
        ids = await products.ids(tenant_id)
        items += [{"target": "products", "ids": ids[start:start + REINDEX_PAGE]} for start in range(0, len(ids), REINDEX_PAGE)]
    if target in ("memories", "all"):
        after = ""
        while (page := await memory.memory_ids(tenant_id, after, REINDEX_PAGE)) and len(items) < MAX_ITEMS:
            items.append({"target": "memories", "ids": page})
            after = page[-1]
    return items


class Progress(BaseModel):
    batch_id: str
    kind: str
    state: str
    total: int
    done: int
    failed: int
    cancelled: int
    items_per_s: float | None
    eta_s: float | None
    summary: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class BatchService:
    def __init__(self, store: BatchStore, threads: ThreadStore, products: ProductStore, memory: MemoryService) -> None:
        self._store, self._threads, self._products, self._memory = store, threads, products, memory

    async def submit(self, tenant_id: str, kind: BatchKind, items: list[Any] | None, inactive_days: int | None,
                     options: dict[str, Any]) -> Batch:
        """Stores the batch with its items: those given, a campaign's threads inactive for ``inactive_days``, or a
        reindex's products and memories; each checked for its kind. 400 for a combination the kind does not take."""
        if kind == "reindex":
            if items is not None or inactive_days is not None:
                raise ServiceError(400, "ITEMS_NOT_ACCEPTED", "a reindex batch takes the tenant's own products and memories: no items")
            items = await reindex_items(tenant_id, options.get("target", "all"), self._products, self._memory)
            if not items:
                raise ServiceError(400, "NOTHING_TO_REINDEX", "the tenant has no products or memories to reindex")
        elif (items is None) == (inactive_days is None):
            raise ServiceError(400, "ITEMS_OR_SOURCE", "send either items or source")
        elif inactive_days is not None:
            if kind != "campaign":
                raise ServiceError(400, "SOURCE_NOT_SUPPORTED", "only campaign batches take a source")
            items = list(await self._threads.inactive(tenant_id, utcnow() - timedelta(days=inactive_days), MAX_ITEMS))
            if not items:
                raise ServiceError(400, "EMPTY_SOURCE", f"no thread has been inactive for {inactive_days} days")
        if kind == "evaluate" and "agent" not in options:
            raise ServiceError(400, "OPTIONS_REQUIRED", "an evaluate batch names the agent it evaluates: options.agent")
        return await self._store.create(tenant_id, kind, options, checked_items(kind, items or [], options))

    async def _batch(self, tenant_id: str, batch_id: str) -> Batch:
        batch = await self._store.get(tenant_id, batch_id)
        if batch is None:
            raise ServiceError(404, "BATCH_NOT_FOUND", f"batch '{batch_id}' not found")
        return batch

    async def progress(self, tenant_id: str, batch_id: str) -> Progress:
        return await self.progress_of(await self._batch(tenant_id, batch_id))

    async def progress_of(self, batch: Batch) -> Progress:
        counts = await self._store.counts(batch.batch_id)
        finished = counts.get("done", 0) + counts.get("failed", 0)
        rate = eta = None
        if batch.started_at is not None and finished:
            elapsed = ((batch.finished_at or utcnow()) - batch.started_at).total_seconds()
            rate = round(finished / max(elapsed, 1e-3), 3)
            left = counts.get("pending", 0) + counts.get("running", 0)
            eta = round(left / rate, 1) if batch.state in ("queued", "running") else 0.0
        return Progress(batch_id=batch.batch_id, kind=batch.kind, state=batch.state, total=batch.total, done=counts.get("done", 0),
                        failed=counts.get("failed", 0), cancelled=counts.get("cancelled", 0), items_per_s=rate, eta_s=eta,
                        summary=batch.summary, created_at=batch.created_at, updated_at=batch.updated_at,
                        started_at=batch.started_at, finished_at=batch.finished_at)

    async def page(self, tenant_id: str, offset: int, limit: int) -> tuple[list[Progress], int]:
        batches, total = await self._store.page(tenant_id, offset, limit)
        return [await self.progress_of(batch) for batch in batches], total

    async def cancel(self, tenant_id: str, batch_id: str) -> Progress:
        batch = await self._batch(tenant_id, batch_id)
        if not await self._store.cancel(tenant_id, batch_id) and batch.state != "cancelled":
            raise ServiceError(409, "BATCH_FINISHED", f"batch '{batch_id}' has already {batch.state}")
        return await self.progress(tenant_id, batch_id)

    async def results(self, tenant_id: str, batch_id: str) -> AsyncIterator[str]:
        """NDJSON lines in input order: ``{index, ok, result | error}``; items not finished yet say their state."""
        await self._batch(tenant_id, batch_id)

        async def lines() -> AsyncIterator[str]:
            after = -1
            while page := await self._store.items(tenant_id, batch_id, after, RESULTS_PAGE):
                for item in page:
                    line: dict[str, Any] = {"index": item.index, "ok": item.state == "done"}
                    if item.state == "done":
                        line["result"] = item.result
                    else:
                        line["error"] = item.error or {"code": f"ITEM_{item.state.upper()}", "message": f"the item is {item.state}"}
                    yield json.dumps(line, ensure_ascii=False) + "\n"
                after = page[-1].index

        return lines()


class BatchProcessor:
    """Runs a claimed chunk of one batch: each item through its kind's handler, all of them at once (a chunk is
    ``batch_concurrency`` items), and writes each outcome once."""

    def __init__(self, store: BatchStore, social: SocialService, agents: AgentSet, memory: MemoryService, index: ProductIndex,
                 threads: ThreadStore, tenants: TenantStore, products: ProductStore, settings: RunsSettings) -> None:
        self._store, self._social, self._agents, self._memory, self._index = store, social, agents, memory, index
        self._threads, self._tenants, self._products, self._settings = threads, tenants, products, settings

    async def run(self, batch: Batch, claim: str, items: list[BatchItem]) -> None:
        await asyncio.gather(*(self._one(batch, claim, item) for item in items))

    async def _one(self, batch: Batch, claim: str, item: BatchItem) -> None:
        try:
            result = await self._handle(batch, item.input)
        except ServiceError as exc:
            error = {"code": exc.code, "message": exc.message}
            if exc.status < 500 or item.attempts >= self._settings.batch_max_attempts:
                await self._store.finish(item, claim, error=error)
            else:
                await self._store.retry(item, claim)
            return
        except Exception as exc:  # a dependency down or a replica lost: worth another try, up to the attempts
            # The type, not the traceback: an item is a customer's text, which a model's or a validator's error may quote.
            log.warning("batch %s item %s attempt %s failed: %s", batch.batch_id, item.index, item.attempts, type(exc).__name__)
            if item.attempts >= self._settings.batch_max_attempts:
                await self._store.finish(item, claim, error={"code": "ITEM_FAILED", "message": f"{type(exc).__name__}: {exc}"})
            else:
                await self._store.retry(item, claim)
            return
        await self._store.finish(item, claim, result=result)

    async def _handle(self, batch: Batch, item: Any) -> dict[str, Any]:
        if batch.kind in SOCIAL:
            model, method = SOCIAL[batch.kind]
            answer = await getattr(self._social, method)(batch.tenant_id, model.model_validate(item))
            return answer.model_dump(mode="json")
        if batch.kind == "evaluate":
            return await predict(self._agents, batch.options["agent"], item)
        if batch.kind == "reindex":
            return await self._reindex(batch.tenant_id, item["target"], item["ids"])
        return await self._campaign(batch, str(item))

    async def _reindex(self, tenant_id: str, target: str, ids: list[str]) -> dict[str, Any]:
        """Embeds these products (from the catalog) or memories (from their text) again, with the embedder configured now."""
        if target == "products":
            rows = await self._products.get_many(tenant_id, ids)
            docs = [ProductDoc(**{name: getattr(row, name) for name in ProductDoc.model_fields}) for row in rows.values()]
            await self._index.upsert(tenant_id, docs)
            return {"target": target, "reindexed": len(docs)}
        return {"target": target, "reindexed": await self._memory.reembed(tenant_id, ids)}

    async def _campaign(self, batch: Batch, thread_id: str) -> dict[str, Any]:
        """A draft for one thread; none for a thread marked do-not-contact; sent after the tenant's quiet hours."""
        thread = await self._threads.get(batch.tenant_id, thread_id)
        if thread is None:
            raise ServiceError(404, "THREAD_NOT_FOUND", f"thread '{thread_id}' not found")
        if (thread.metadata_ or {}).get("do_not_contact"):
            return {"thread_id": thread_id, "status": "skipped", "reason": "do_not_contact"}
        draft = await self._social.outreach(batch.tenant_id, thread_id)
        tenant = await self._tenants.get(batch.tenant_id)
        send_after = quiet_hours_end((tenant.features or {}).get("quiet_hours") if tenant else None, datetime.now(SHANGHAI))
        return {"status": "drafted", "send_after": send_after.isoformat() if send_after else None,
                **draft.model_dump(mode="json")}


def quiet_hours_end(window: Any, now: datetime) -> datetime | None:
    """When a message may go out, if ``now`` falls in the tenant's quiet hours (``{"start": "21:00", "end": "09:00"}``,
    Asia/Shanghai); None when it may go now (or no window is set)."""
    if not isinstance(window, dict):
        return None
    try:
        start, end = (datetime.strptime(str(window[key]), "%H:%M").time() for key in ("start", "end"))
    except (KeyError, ValueError):
        return None
    local = now.astimezone(SHANGHAI)
    moment = local.time()
    quiet = start <= moment < end if start <= end else moment >= start or moment < end
    if not quiet:
        return None
    until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return until if until > local else until + timedelta(days=1)


class BatchRunner:
    """The worker loop of one replica: picks the runnable batches, keeps one chunk of each in flight (claimed with a
    lease it renews), executes it through ``execute``, and completes the batch once nothing is left.

    Batches run below live turns: before a chunk starts, the runner waits (up to ``batch_yield_seconds``) for live
    chat to go quiet (``live``: interactive runs in flight or just started); if it does not, the chunk is a single
    item. Where every core is busy, a full chunk next to each turn doubled chat latency (docs/benchmarks.md); this
    trades batch speed while chat is busy for chat latency.
    """

    def __init__(self, store: BatchStore, execute: Execute, settings: RunsSettings,
                 live: Callable[[], Awaitable[int]] | None = None) -> None:
        self._store, self._execute, self._settings, self._live = store, execute, settings, live
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._chunks: dict[str, asyncio.Task[None]] = {}
        self._backlog = BacklogGauge("batch_items", store.backlog)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="batch-runner")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stops claiming; chunks in flight are cancelled and their items claimed again by any worker after the lease."""
        tasks = [task for task in (self._task, *self._chunks.values()) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:
                log.exception("batch runner step failed; trying again")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.worker_poll_seconds):
                    await self._wake.wait()
            self._wake.clear()

    async def step(self) -> None:
        """Starts a chunk for every runnable batch that has none in flight here."""
        await self._backlog.sample_when_due()
        for batch in await self._store.runnable(self._settings.batch_per_tenant):
            if batch.batch_id in self._chunks:
                continue
            claim, items = await self._store.claim(batch, await self._chunk_size(), self._settings.run_lease_seconds,
                                                   self._settings.batch_max_attempts)
            if items:
                self._chunks[batch.batch_id] = asyncio.create_task(self._chunk(batch, claim, items))
            else:
                await self._settle(batch)

    async def _chunk_size(self) -> int:
        """``batch_concurrency``, once no live turn is in flight; 1 if live turns kept running for ``batch_yield_seconds``."""
        if self._live is None:
            return self._settings.batch_concurrency
        deadline = asyncio.get_running_loop().time() + self._settings.batch_yield_seconds
        while await self._live():
            if asyncio.get_running_loop().time() >= deadline:
                return 1
            await asyncio.sleep(LIVE_POLL_S)
        return self._settings.batch_concurrency

    async def _chunk(self, batch: Batch, claim: str, items: list[BatchItem]) -> None:
        renewing = asyncio.create_task(self._renew(batch.batch_id, claim))
        try:
            await self._execute(batch, claim, items)
        except Exception:
            log.exception("batch %s: a chunk of %s items failed to run; they are claimed again after the lease", batch.batch_id,
                          len(items))
        finally:
            renewing.cancel()
            self._chunks.pop(batch.batch_id, None)
            await self._settle(batch)
            self._wake.set()

    async def _renew(self, batch_id: str, claim: str) -> None:
        while True:
            await asyncio.sleep(self._settings.run_lease_seconds / 3)
            await self._store.renew(batch_id, claim, self._settings.run_lease_seconds)

    async def _settle(self, batch: Batch) -> None:
        counts = await self._store.counts(batch.batch_id)
        if unfinished(counts):
            return
        summary = None
        if batch.kind == "evaluate":
            agent: EvaluatedAgent = batch.options["agent"]
            summary = metrics(agent, await self._store.done_results(batch.batch_id))
        if await self._store.settle(batch.batch_id, counts, summary):
            log.info("batch %s (%s) finished", batch.batch_id, batch.kind)
