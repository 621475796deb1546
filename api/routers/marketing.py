"""Marketing plans (``tenant:chat``): a plan and three distinct options, each passed through output compliance."""

from __future__ import annotations

from fastapi import APIRouter

from agents.social.models import PlanRequest, PlanResult
from api.auth import TenantChat
from api.deps import ServicesDep
from api.routers import CheckedRoute

router = APIRouter(prefix="/v1/marketing", tags=["marketing"], route_class=CheckedRoute)


@router.post("/plans", response_model=PlanResult)
async def plans(body: PlanRequest, ctx: TenantChat, services: ServicesDep) -> PlanResult:
    """The client's ``request_id`` is kept (one is generated when absent)."""
    return await services.social.plan(ctx.tenant_id, body)
