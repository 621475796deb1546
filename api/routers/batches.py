"""Batch jobs (``tenant:chat``): submit (stored whole before the 202), list, progress, NDJSON results, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import StreamingResponse

from api.auth import TenantChat
from api.deps import ServicesDep
from api.routers import CheckedRoute
from api.schemas.batches import BatchAccepted, BatchCreate, BatchPage
from api.schemas.common import PageQuery
from runs.batches import Progress

router = APIRouter(prefix="/v1/batches", tags=["batches"], route_class=CheckedRoute)


@router.post("", response_model=BatchAccepted, status_code=status.HTTP_202_ACCEPTED)
async def submit(body: BatchCreate, ctx: TenantChat, services: ServicesDep) -> BatchAccepted:
    """Every item is checked for its kind (400 ``INVALID_ITEM`` naming the first bad one) and stored before the 202."""
    days = body.source.inactive_days if body.source is not None else None
    batch = await services.batches.submit(ctx.tenant_id, body.kind, body.items, days, body.options.model_dump(exclude_none=True))
    await services.wake_batches()
    return BatchAccepted(batch_id=batch.batch_id, state=batch.state, total=batch.total)


@router.get("", response_model=BatchPage)
async def list_batches(ctx: TenantChat, services: ServicesDep, paging: Annotated[PageQuery, Query()]) -> BatchPage:
    items, total = await services.batches.page(ctx.tenant_id, paging.offset, paging.page_size)
    return BatchPage(items=items, total=total, page=paging.page, page_size=paging.page_size)


@router.get("/{batch_id}", response_model=Progress)
async def progress(batch_id: str, ctx: TenantChat, services: ServicesDep) -> Progress:
    """Total, done, failed, items/s, ETA and state; an evaluation's metrics (``summary``) once completed."""
    return await services.batches.progress(ctx.tenant_id, batch_id)


@router.get("/{batch_id}/results", response_class=StreamingResponse,
            responses={200: {"content": {"application/x-ndjson": {}}, "description": "one line per item, in input order: "
                             "{index, ok, result | error}"}})
async def results(batch_id: str, ctx: TenantChat, services: ServicesDep) -> StreamingResponse:
    return StreamingResponse(await services.batches.results(ctx.tenant_id, batch_id), media_type="application/x-ndjson")


@router.post("/{batch_id}/cancel", response_model=Progress)
async def cancel(batch_id: str, ctx: TenantChat, services: ServicesDep) -> Progress:
    """Pending items are cancelled; items running now finish. 409 once the batch has finished."""
    return await services.batches.cancel(ctx.tenant_id, batch_id)
