"""A tenant's usage for the console (``tenant:admin``): runs, tokens and cost per day and model, compliance findings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import TenantAdmin
from api.deps import ServicesDep
from api.routers import CheckedRoute
from runs.usage import Usage, usage

router = APIRouter(prefix="/v1/usage", tags=["usage"], route_class=CheckedRoute)


@router.get("", response_model=Usage)
async def tenant_usage(ctx: TenantAdmin, services: ServicesDep, days: Annotated[int, Query(ge=1, le=90)] = 30) -> Usage:
    """The last ``days`` Asia/Shanghai calendar days, today included."""
    return await usage(services.runs, ctx.tenant_id, days)
