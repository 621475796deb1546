"""A tenant's own compliance rules (``tenant:admin``): forbidden words and allowed exceptions applied on top of the
packs, and the LLM's second opinion. Every change (replacement or rollback) appends a version naming the app key that
made it, so the history is a full audit trail; exactly one version is active."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from api.auth import TenantAdmin
from api.deps import ServicesDep
from api.routers import CheckedRoute
from api.schemas.common import MAX_INT32
from api.schemas.compliance import (
    ComplianceRulesHistory,
    ComplianceRulesOut,
    ComplianceRulesRollback,
    ComplianceRulesUpdate,
)

router = APIRouter(prefix="/v1/compliance/rules", tags=["compliance"], route_class=CheckedRoute)


@router.get("", response_model=ComplianceRulesOut)
async def active(ctx: TenantAdmin, services: ServicesDep) -> ComplianceRulesOut:
    """The active version (version 0, with no words, when the tenant has set none)."""
    return ComplianceRulesOut.of(await services.compliance_rules.current(ctx.tenant_id))


@router.put("", response_model=ComplianceRulesOut)
async def replace(body: ComplianceRulesUpdate, ctx: TenantAdmin, services: ServicesDep) -> ComplianceRulesOut:
    """Replace the whole set of rules (nothing is merged) with a new active version.

    400 INVALID_COMPLIANCE_RULES for a category that is neither ``brand_rule`` nor one the packs declare, a word
    twice, or a word both forbidden and allowed; with ``base_version``, 409 COMPLIANCE_RULES_VERSION_CONFLICT when
    another edit landed first.
    """
    row = await services.compliance_rules.replace(ctx.tenant_id, body.rules(), body.note, ctx.principal.key_id,
                                                  body.base_version)
    return ComplianceRulesOut.of(row)


@router.get("/history", response_model=ComplianceRulesHistory)
async def history(ctx: TenantAdmin, services: ServicesDep,
                  limit: Annotated[int, Query(ge=1, le=100)] = 20) -> ComplianceRulesHistory:
    rows = await services.compliance_rules.history(ctx.tenant_id, limit)
    return ComplianceRulesHistory(versions=[ComplianceRulesOut.of(row) for row in rows])


@router.get("/versions/{version}", response_model=ComplianceRulesOut)
async def one_version(version: Annotated[int, Path(ge=1, le=MAX_INT32)], ctx: TenantAdmin,
                      services: ServicesDep) -> ComplianceRulesOut:
    return ComplianceRulesOut.of(await services.compliance_rules.version(ctx.tenant_id, version))


@router.post("/rollback", response_model=ComplianceRulesOut, status_code=status.HTTP_201_CREATED)
async def rollback(body: ComplianceRulesRollback, ctx: TenantAdmin, services: ServicesDep) -> ComplianceRulesOut:
    """A copy of ``version`` as the new active version (note ``rollback to vN``)."""
    return ComplianceRulesOut.of(await services.compliance_rules.rollback(ctx.tenant_id, body.version, ctx.principal.key_id))
