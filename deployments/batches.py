"""``BatchDriver``: the batch runner of the Serve application. It claims chunks of items from the relational store and
runs each chunk as a Ray task, which calls the same deployments as live traffic through their handles (no second copy
of any agent). A task or driver that dies leaves its items claimed until their lease expires; any driver then claims
them again, and an item's outcome is written once (``store.batches``)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import ray
from ray import serve

from api.schemas.runs import run_record_body
from deployments.agents import Overrides, handle_backends
from deployments.replica import replica_settings
from runs.batches import BatchProcessor
from runtime import components
from runtime.services import Services
from store.db import make_sessionmaker
from store.models import Batch, BatchItem

# The handle each component is reached by (``deployments.agents.handle_backends``), by deployment name.
DEPLOYMENTS = {"llm_router": "LLMRouter", "memory": "Memory", "product": "Product", "compliance": "Compliance",
               "sentiment": "Sentiment", "intent": "Intent", "sales": "Sales", "workflow": "Workflow", "social": "Social"}


_loop: asyncio.AbstractEventLoop | None = None
_processors: dict[str, BatchProcessor] = {}


def _process_loop() -> asyncio.AbstractEventLoop:
    """One event loop per Ray worker process, running for the process's lifetime in a thread of its own: Serve binds a
    process's handle routers to the loop they were first used on, and delivers replica updates through it, so a loop per
    task (``asyncio.run``) would leave them bound to a closed one, and a loop that only runs during tasks would miss the
    updates in between."""
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
        threading.Thread(target=_loop.run_forever, name="batch-chunks", daemon=True).start()
    return _loop


def _processor(overrides: dict[str, Any], app_name: str) -> BatchProcessor:
    """The worker process's processor for this application, built once (database engine, handles) and used by every
    chunk it runs, like a replica's: on the process's one loop, so its connections stay valid."""
    key = json.dumps([overrides, app_name], sort_keys=True, default=str)
    if key not in _processors:
        settings = replica_settings(overrides)
        backends = handle_backends({name: serve.get_deployment_handle(deployment, app_name)
                                    for name, deployment in DEPLOYMENTS.items()})
        _processors[key] = components.batch_processor(settings, backends.social, backends.agents, backends.memory,
                                                      backends.products, make_sessionmaker(components.database(settings)))
    return _processors[key]


@ray.remote(num_cpus=0, max_retries=0)
def run_chunk(overrides: dict[str, Any], app_name: str, batch: dict[str, Any], claim: str, items: list[dict[str, Any]]) -> None:
    """One chunk of a batch, in a Ray worker process (a failed task is not retried here: its items' leases expire and
    the driver claims them again, counting the attempt)."""
    chunk = _processor(overrides, app_name).run(Batch(**batch), claim, [BatchItem(**item) for item in items])
    asyncio.run_coroutine_threadsafe(chunk, _process_loop()).result()


@serve.deployment(name="BatchDriver")
class BatchDriver:
    async def __init__(self, settings: Overrides = None, **handles: Any) -> None:
        self._overrides = settings or {}
        self._app_name = serve.get_replica_context().app_name
        self._services = await Services.open(replica_settings(self._overrides), handle_backends(handles), run_worker=False,
                                             webhook_body=run_record_body, batches=self._as_task)

    async def _as_task(self, batch: Batch, claim: str, items: list[BatchItem]) -> None:
        fields = {"batch_id": batch.batch_id, "tenant_id": batch.tenant_id, "kind": batch.kind, "options": batch.options,
                  "state": batch.state}
        chunk = [{"batch_id": item.batch_id, "index": item.index, "tenant_id": item.tenant_id, "input": item.input,
                  "attempts": item.attempts, "state": item.state, "claim": claim} for item in items]
        await run_chunk.remote(self._overrides, self._app_name, fields, claim, chunk)

    async def wake(self) -> None:
        await self._services.wake_batches()

    async def __del__(self) -> None:
        await self._services.close()
