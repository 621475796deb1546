"""Tenant administration for the brand platform (``backend:admin``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.auth import Principal, require_scope
from api.deps import ServicesDep
from api.errors import ApiError, found, not_found
from api.routers import CheckedRoute
from api.schemas.common import Page, PageQuery
from api.schemas.tenants import TenantOut, TenantStatus, TenantSync, TenantUpdate
from api.scopes import BACKEND_ADMIN, PLATFORM_TENANT

router = APIRouter(prefix="/v1/tenants", tags=["tenants"], route_class=CheckedRoute)
Admin = Annotated[Principal, Depends(require_scope(BACKEND_ADMIN))]


def _visible(principal: Principal, tenant_id: str) -> bool:
    """A tenant-bound admin key manages only its own tenant; others look nonexistent."""
    return principal.tenant_id in (PLATFORM_TENANT, tenant_id)


@router.get("", response_model=Page[TenantOut])
async def list_tenants(principal: Admin, services: ServicesDep, paging: Annotated[PageQuery, Query()]) -> Page[TenantOut]:
    """Every tenant for a platform key (the console's tenant picker); a tenant-bound admin key sees its own."""
    if principal.tenant_id != PLATFORM_TENANT:
        own = await services.tenants.get(principal.tenant_id)
        items = [TenantOut.model_validate(own)] if own is not None and paging.page == 1 else []
        return Page(items=items, total=int(own is not None), page=paging.page, page_size=paging.page_size)
    rows, total = await services.tenants.page(paging.offset, paging.page_size)
    return Page(items=[TenantOut.model_validate(r) for r in rows], total=total, page=paging.page, page_size=paging.page_size)


@router.post("/sync", response_model=TenantOut, responses={200: {"description": "updated"}, 201: {"description": "created"}})
async def sync(body: TenantSync, principal: Admin, services: ServicesDep, response: Response) -> TenantOut:
    """Idempotent upsert. Omitted fields keep their stored values: a re-sync without
    ``status`` never silently reactivates a BANNED or CLOSED tenant (new tenants start ACTIVE)."""
    if not _visible(principal, body.tenant_id):
        raise ApiError(403, "TENANT_MISMATCH", "this key may only sync its own tenant")
    fields = body.model_dump(exclude={"tenant_id"}, exclude_unset=True, mode="json")
    tenant, created = await services.tenants.upsert(body.tenant_id, fields)
    response.status_code = 201 if created else 200
    return TenantOut.model_validate(tenant)


def _require_visible(principal: Principal, tenant_id: str) -> None:
    if not _visible(principal, tenant_id):
        raise not_found("tenant", tenant_id)


@router.get("/{tenant_id}/status", response_model=TenantOut)
async def status(tenant_id: str, principal: Admin, services: ServicesDep) -> TenantOut:
    _require_visible(principal, tenant_id)
    return TenantOut.model_validate(found(await services.tenants.get(tenant_id), "tenant", tenant_id))


@router.put("/{tenant_id}", response_model=TenantOut)
async def update(tenant_id: str, body: TenantUpdate, principal: Admin, services: ServicesDep) -> TenantOut:
    fields = body.changes()
    if not fields:
        raise ApiError(400, "EMPTY_UPDATE", "the update names no field to change")
    _require_visible(principal, tenant_id)
    return TenantOut.model_validate(found(await services.tenants.update(tenant_id, fields), "tenant", tenant_id))


@router.delete("/{tenant_id}", response_model=TenantOut)
async def delete(tenant_id: str, principal: Admin, services: ServicesDep) -> TenantOut:
    """Soft delete: the tenant becomes CLOSED, its data stays and its tokens stop working."""
    _require_visible(principal, tenant_id)
    tenant = await services.tenants.update(tenant_id, {"status": TenantStatus.CLOSED.value})
    return TenantOut.model_validate(found(tenant, "tenant", tenant_id))
