"""Idempotency keys on runs: a client that lost a run's answer sends the request again and never makes a second turn.

An answer is lost when the connection drops or when the replica executing the run dies (Serve's proxy then answers a
plain 500). The client sends the same request with the same ``Idempotency-Key``: a completed run is answered from
the store, an active one is waited for, and one that failed (a failed run stores nothing) or whose replica died is
run again, the key passing to the new run. A key is the tenant's and stays bound to the request it first came with:
the same key with another request is 409 ``IDEMPOTENCY_KEY_REUSED`` (a conflict with what is stored, not a malformed request).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from runs.errors import ServiceError
from store.models import Run
from store.runs import RunStore

POLL_S = 0.2  # how often a retry looks at the run it waits for


@dataclass(frozen=True)
class RunRequest:
    """What an idempotency key is bound to."""

    thread_id: str
    mode: str
    assistant_id: str | None
    input: list[dict[str, Any]]
    metadata: dict[str, Any]
    requested_model: str | None

    @classmethod
    def of(cls, run: Run) -> RunRequest:
        return cls(run.thread_id, run.mode, run.assistant_id, run.input, run.metadata_, run.requested_model)


async def keyed_run(runs: RunStore, tenant_id: str, key: str, request: RunRequest) -> Run | None:
    """The run that answers ``request``, or None when a new run is to be stored under ``key``.

    An async run is returned as it is (its worker finishes it); a wait run once it has completed. While the keyed
    run is active, this waits for it; if its replica died, it is failed (RUN_ABANDONED) and, like any failed run,
    gives up its key.
    """
    while (run := await runs.by_key(tenant_id, key)) is not None:
        if RunRequest.of(run) != request:
            raise ServiceError(409, "IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was sent with another request",
                           {"run_id": run.run_id, "thread_id": run.thread_id})
        if run.mode == "async" or run.status == "completed":
            return run
        if run.status == "failed":
            if await runs.release_key(run):
                return None
        elif not await runs.abandon_if_orphaned(run):
            await asyncio.sleep(POLL_S)
    return None
