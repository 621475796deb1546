"""Long-term memories of the tenant's threads (``tenant:admin``): insert, delete, search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import TenantAdmin
from api.deps import ServicesDep
from api.errors import ApiError, found
from api.routers import CheckedRoute
from api.schemas.memory import (
    InsertOutcome,
    InsertTotals,
    MemoryDelete,
    MemoryHit,
    MemoryInsert,
    MemoryInsertResult,
    MemorySearchResult,
)

router = APIRouter(prefix="/v1/memory", tags=["memory"], route_class=CheckedRoute)


async def _check_thread(services: ServicesDep, tenant_id: str, thread_id: str) -> None:
    found(await services.threads.get(tenant_id, thread_id), "thread", thread_id)


@router.post("/insert", response_model=MemoryInsertResult)
async def insert(body: MemoryInsert, ctx: TenantAdmin, services: ServicesDep) -> MemoryInsertResult:
    """Store memories for a thread; they are embedded and indexed for recall in the thread's next turns."""
    await _check_thread(services, ctx.tenant_id, body.thread_id)
    records = await services.backends.memory.insert(ctx.tenant_id, body.thread_id, body.memories, body.tags)
    results = [InsertOutcome(index=index, success=True, memory_id=record.memory_id) for index, record in enumerate(records)]
    return MemoryInsertResult(results=results, metadata=InsertTotals(total=len(body.memories), succeed=len(results), failed=0))


@router.post("/delete")
async def delete(body: MemoryDelete, ctx: TenantAdmin, services: ServicesDep) -> dict[str, object]:
    await _check_thread(services, ctx.tenant_id, body.thread_id)
    if not await services.backends.memory.delete(ctx.tenant_id, body.thread_id, body.memory_id):
        raise ApiError(404, "MEMORY_NOT_FOUND", f"memory '{body.memory_id}' not found in thread '{body.thread_id}'")
    return {"memory_id": body.memory_id, "deleted": True}


@router.get("/search", response_model=MemorySearchResult)
async def search(
    ctx: TenantAdmin,
    services: ServicesDep,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    thread_id: Annotated[str | None, Query(description="only this thread's memories; all of the tenant's when absent")] = None,
    k: Annotated[int, Query(ge=1, le=50)] = 5,
) -> MemorySearchResult:
    """Hybrid recall (vectors + keywords, fused ranks), best first."""
    if not q.strip():
        raise ApiError(400, "EMPTY_QUERY", "q must contain text")
    if thread_id is not None:
        await _check_thread(services, ctx.tenant_id, thread_id)
    hits = await services.backends.memory.search(ctx.tenant_id, q, thread_id, k)
    return MemorySearchResult(
        results=[MemoryHit(**hit.memory.model_dump(exclude={"tenant_id"}), score=hit.score, matched_by=list(hit.matched_by)) for hit in hits]
    )
