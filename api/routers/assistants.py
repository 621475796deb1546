"""Assistants (personas) of the caller's tenant (``tenant:admin``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from api.auth import TenantAdmin
from api.deps import ServicesDep
from api.errors import ApiError, found, not_found
from api.routers import CheckedRoute
from api.schemas.assistants import (
    AssistantCreate,
    AssistantOut,
    AssistantStatus,
    AssistantUpdate,
)
from api.schemas.common import Page, PageQuery

router = APIRouter(prefix="/v1/assistants", tags=["assistants"], route_class=CheckedRoute)


@router.post("", response_model=AssistantOut, status_code=status.HTTP_201_CREATED)
async def create(body: AssistantCreate, ctx: TenantAdmin, services: ServicesDep) -> AssistantOut:
    ctx.refuse_other_tenant(body.tenant_id)
    fields = body.model_dump(exclude={"tenant_id"}, mode="json")
    return AssistantOut.model_validate(await services.assistants.create(ctx.tenant_id, fields))


@router.get("", response_model=Page[AssistantOut])
async def list_assistants(
    ctx: TenantAdmin,
    services: ServicesDep,
    paging: Annotated[PageQuery, Query()],
    status_filter: Annotated[AssistantStatus | None, Query(alias="status")] = None,
) -> Page[AssistantOut]:
    rows, total = await services.assistants.page(
        ctx.tenant_id, paging.offset, paging.page_size, status_filter.value if status_filter else None
    )
    return Page(items=[AssistantOut.model_validate(r) for r in rows], total=total, page=paging.page, page_size=paging.page_size)


@router.get("/{assistant_id}", response_model=AssistantOut)
async def get(assistant_id: str, ctx: TenantAdmin, services: ServicesDep) -> AssistantOut:
    return AssistantOut.model_validate(found(await services.assistants.get(ctx.tenant_id, assistant_id), "assistant", assistant_id))


@router.put("/{assistant_id}", response_model=AssistantOut)
async def update(assistant_id: str, body: AssistantUpdate, ctx: TenantAdmin, services: ServicesDep) -> AssistantOut:
    ctx.refuse_other_tenant(body.tenant_id)
    fields = {k: v for k, v in body.changes().items() if k != "tenant_id"}
    if not fields:
        raise ApiError(400, "EMPTY_UPDATE", "the update names no field to change")
    assistant = await services.assistants.update(ctx.tenant_id, assistant_id, fields)
    return AssistantOut.model_validate(found(assistant, "assistant", assistant_id))


@router.delete("/{assistant_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(assistant_id: str, ctx: TenantAdmin, services: ServicesDep) -> None:
    """Soft delete: gone from the API, kept for the runs and prompt history that reference it."""
    if not await services.assistants.delete(ctx.tenant_id, assistant_id):
        raise not_found("assistant", assistant_id)
