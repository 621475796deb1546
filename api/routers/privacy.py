"""Customers' personal data (``tenant:admin``): erase a thread or a customer from every store, export a thread."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.auth import TenantAdmin
from api.deps import ServicesDep
from api.errors import ApiError, found
from api.routers import CheckedRoute
from api.schemas.memory import MemoryOut
from api.schemas.privacy import CustomerErasure, ErasureByPhone, ErasureOut, ThreadExport
from api.schemas.runs import RunRecord
from api.schemas.threads import MessageOut, ThreadOut
from runtime.services import Services
from store.models import Erasure

router = APIRouter(tags=["personal data"], route_class=CheckedRoute)
PENDING = {202: {"model": ErasureOut, "description": "Not finished yet (a turn in flight, or a store failed): it is "
                                                     "resumed automatically; poll GET /v1/erasures/{erasure_id}."}}


async def _answer(services: Services, erasure: Erasure, response: Response) -> ErasureOut:
    if erasure.state != "done":
        response.status_code = status.HTTP_202_ACCEPTED
    return ErasureOut(thread_ids=await services.personal_data.threads(erasure.erasure_id),
                      **{name: getattr(erasure, name) for name in ErasureOut.model_fields if name != "thread_ids"})


@router.delete("/v1/threads/{thread_id}", response_model=ErasureOut, responses=PENDING)
async def erase_thread(
    thread_id: str, ctx: TenantAdmin, services: ServicesDep, response: Response,
    erase: Annotated[bool, Query(description="Must be true: the customer's data is erased from every store, for good.")] = None,  # type: ignore[assignment]
) -> ErasureOut:
    """Erases the thread and everything held about it (messages, runs, run events, campaign drafts, the conversation
    window, memories, vectors) and answers the receipt. Idempotent: erasing it again answers the same erasure."""
    if erase is not True:
        raise ApiError(400, "ERASE_NOT_CONFIRMED", "deleting a thread erases its customer's data from every store: "
                                                   "confirm with ?erase=true")
    exists = await services.threads.get(ctx.tenant_id, thread_id) is not None
    return await _answer(services, await services.personal_data.erase_thread(ctx.tenant_id, thread_id, exists), response)


@router.post("/v1/customers/erase", response_model=ErasureOut, responses=PENDING)
async def erase_customer(body: CustomerErasure, ctx: TenantAdmin, services: ServicesDep, response: Response) -> ErasureOut:
    """Erases every thread of the tenant's customer with this phone number or external user id (none: an empty
    receipt). Send it again after new threads appeared: each call is its own erasure."""
    subject, value = ("phone", body.phone) if isinstance(body, ErasureByPhone) else ("external_user_id", body.external_user_id)
    return await _answer(services, await services.personal_data.erase_customer(ctx.tenant_id, subject, value), response)


@router.get("/v1/erasures/{erasure_id}", response_model=ErasureOut, responses=PENDING)
async def erasure(erasure_id: str, ctx: TenantAdmin, services: ServicesDep, response: Response) -> ErasureOut:
    return await _answer(services, found(await services.personal_data.get(ctx.tenant_id, erasure_id), "erasure", erasure_id),
                         response)


@router.get("/v1/threads/{thread_id}/export", response_model=ThreadExport)
async def export(thread_id: str, ctx: TenantAdmin, services: ServicesDep) -> ThreadExport:
    """Everything held about the thread's customer, as JSON (a data subject's copy of their data)."""
    thread = found(await services.threads.get(ctx.tenant_id, thread_id), "thread", thread_id)
    held = await services.personal_data.export(thread)
    return ThreadExport(
        exported_at=held.exported_at, thread=ThreadOut.model_validate(held.thread),
        messages=[MessageOut.model_validate(message) for message in held.messages],
        runs=[RunRecord.of(run) for run in held.runs],
        memories=[MemoryOut(**memory.model_dump(exclude={"tenant_id"})) for memory in held.memories],
        truncated=held.truncated,
    )
