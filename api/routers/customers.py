"""Customer analysis of a thread (``tenant:chat``): a report, tags and a structured profile with a lead score, from
the thread's transcript and memories (a model's structured output when one is routed, extractive otherwise)."""

from __future__ import annotations

from fastapi import APIRouter

from agents.social.analysis import LabelResult, ProfileResult, ReportResult
from api.auth import TenantChat
from api.deps import ServicesDep
from api.routers import CheckedRoute

router = APIRouter(prefix="/v1/threads", tags=["customer analysis"], route_class=CheckedRoute)


@router.post("/{thread_id}/report", response_model=ReportResult)
async def report(thread_id: str, ctx: TenantChat, services: ServicesDep) -> ReportResult:
    """A markdown summary: needs, concerns, budget, objections, stage and the next step."""
    return await services.social.report(ctx.tenant_id, thread_id)


@router.post("/{thread_id}/label", response_model=LabelResult)
async def label(thread_id: str, ctx: TenantChat, services: ServicesDep) -> LabelResult:
    """3 to 5 short tags."""
    return await services.social.labels(ctx.tenant_id, thread_id)


@router.post("/{thread_id}/profile", response_model=ProfileResult)
async def profile(thread_id: str, ctx: TenantChat, services: ServicesDep) -> ProfileResult:
    """Skin type, concerns, allergies, budget range, treatments done, stage, intent and a lead score with its reasons."""
    return await services.social.profile(ctx.tenant_id, thread_id)
