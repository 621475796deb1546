"""Customer threads and their durable message history (``tenant:chat``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from api.auth import TenantChat, TenantContext
from api.deps import ServicesDep
from api.errors import ApiError, found
from api.routers import CheckedRoute
from api.schemas.common import Page, PageQuery
from api.schemas.runs import RunList, RunRecord
from api.schemas.threads import (
    HandoffRequest,
    HumanReply,
    MessageOut,
    MessagePage,
    ThreadCreate,
    ThreadOut,
    ThreadUpdate,
)

router = APIRouter(prefix="/v1/threads", tags=["threads"], route_class=CheckedRoute)


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    # "metadata" is reserved by SQLAlchemy's declarative base; the column attribute is metadata_.
    if "metadata" in fields:
        fields["metadata_"] = fields.pop("metadata")
    return fields


async def _check_assistant(services: ServicesDep, ctx: TenantContext, assistant_id: str | None) -> None:
    if assistant_id is not None:
        found(await services.assistants.get(ctx.tenant_id, assistant_id), "assistant", assistant_id)


@router.post("", response_model=ThreadOut, status_code=status.HTTP_201_CREATED)
async def create(body: ThreadCreate, ctx: TenantChat, services: ServicesDep) -> ThreadOut:
    await _check_assistant(services, ctx, body.assistant_id)
    fields = {k: v for k, v in body.model_dump(mode="json").items() if v is not None}
    return ThreadOut.model_validate(await services.threads.create(ctx.tenant_id, _columns(fields)))


@router.get("", response_model=Page[ThreadOut])
async def list_threads(
    ctx: TenantChat,
    services: ServicesDep,
    paging: Annotated[PageQuery, Query()],
    handoff: Annotated[bool, Query(description="true: only threads with a person; false: only those with the AI")] = None,  # type: ignore[assignment]
) -> Page[ThreadOut]:
    """The tenant's threads, most recently active first."""
    rows, total = await services.threads.page(ctx.tenant_id, paging.offset, paging.page_size, handoff)
    return Page(items=[ThreadOut.model_validate(r) for r in rows], total=total, page=paging.page, page_size=paging.page_size)


@router.get("/{thread_id}/runs", response_model=RunList)
async def runs_of_thread(thread_id: str, ctx: TenantChat, services: ServicesDep,
                         limit: Annotated[int, Query(ge=1, le=100)] = 20) -> RunList:
    """The thread's latest runs, newest first, each with what every agent decided, its timings, tokens and cost."""
    found(await services.threads.get(ctx.tenant_id, thread_id), "thread", thread_id)
    return RunList(runs=[RunRecord.of(run) for run in await services.runs.of_thread(ctx.tenant_id, thread_id, limit)])


@router.get("/{thread_id}", response_model=ThreadOut)
async def get(thread_id: str, ctx: TenantChat, services: ServicesDep) -> ThreadOut:
    return ThreadOut.model_validate(found(await services.threads.get(ctx.tenant_id, thread_id), "thread", thread_id))


@router.post("/{thread_id}/info", response_model=ThreadOut)
async def update_info(thread_id: str, body: ThreadUpdate, ctx: TenantChat, services: ServicesDep) -> ThreadOut:
    fields = body.changes()
    if not fields:
        raise ApiError(400, "EMPTY_UPDATE", "the update names no field to change")
    await _check_assistant(services, ctx, fields.get("assistant_id"))
    thread = await services.threads.update(ctx.tenant_id, thread_id, _columns(fields))
    return ThreadOut.model_validate(found(thread, "thread", thread_id))


@router.get("/{thread_id}/messages", response_model=MessagePage)
async def messages(
    thread_id: str,
    ctx: TenantChat,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[str | None, Query(description="a message_id: return only older messages")] = None,
) -> MessagePage:
    """Newest first; page backwards with ``before=next_before``."""
    found(await services.threads.get(ctx.tenant_id, thread_id), "thread", thread_id)
    rows = await services.threads.messages(ctx.tenant_id, thread_id, limit + 1, before)
    if rows is None:
        raise ApiError(400, "INVALID_CURSOR", f"'before' names no message of thread '{thread_id}'")
    page, has_more = rows[:limit], len(rows) > limit
    return MessagePage(
        messages=[MessageOut.model_validate(r) for r in page],
        has_more=has_more,
        next_before=page[-1].message_id if has_more else None,
    )


@router.post("/{thread_id}/handoff", response_model=ThreadOut)
async def hand_off(thread_id: str, body: HandoffRequest, ctx: TenantChat, services: ServicesDep) -> ThreadOut:
    """Hands the thread to a person (status HANDOFF): runs store the customer's messages and make no AI reply until
    it is released. A thread already with a person keeps its first reason."""
    return ThreadOut.model_validate(found(await services.threads.hand_off(ctx.tenant_id, thread_id, body.reason), "thread", thread_id))


@router.post("/{thread_id}/release", response_model=ThreadOut)
async def release(thread_id: str, ctx: TenantChat, services: ServicesDep) -> ThreadOut:
    """Gives the thread back to the AI: the next run answers again (releasing a thread the AI has is harmless)."""
    thread = await services.threads.update(ctx.tenant_id, thread_id, {"handoff_reason": None, "handoff_at": None})
    return ThreadOut.model_validate(found(thread, "thread", thread_id))


@router.post("/{thread_id}/messages", response_model=MessageOut, status_code=status.HTTP_201_CREATED)
async def add_human_reply(thread_id: str, body: HumanReply, ctx: TenantChat, services: ServicesDep) -> MessageOut:
    """Stores a person's reply to the customer (``author: human``), as sent by the brand's own channel."""
    message = await services.threads.add_message(ctx.tenant_id, thread_id, role=body.role, content=body.content,
                                                 author=body.author)
    return MessageOut.model_validate(found(message, "thread", thread_id))
