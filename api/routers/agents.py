"""The agents for operators and ML engineers (``tenant:admin``), and the compliance check brands use (``tenant:chat``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from agents.compliance import ComplianceInput, ComplianceRequest, ComplianceResult
from agents.registry import AGENTS
from api.auth import TenantAdmin, TenantChat
from api.deps import ServicesDep
from api.errors import ApiError
from api.routers import CheckedRoute

router = APIRouter(prefix="/v1", tags=["agents"], route_class=CheckedRoute)


@router.get("/agents")
async def list_agents(ctx: TenantAdmin) -> dict[str, Any]:
    """Each agent, the deployment that serves it, and its input and output JSON schemas."""
    return {"agents": [spec.schemas() for spec in AGENTS.values()]}


@router.post("/agents/{name}/invoke")
async def invoke(name: str, ctx: TenantAdmin, services: ServicesDep, payload: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Runs one agent alone on its input model (``GET /v1/agents`` lists them) and returns its output model."""
    spec = AGENTS.get(name)
    if spec is None:
        raise ApiError(404, "AGENT_NOT_FOUND", f"agent '{name}' not found", {"agents": sorted(AGENTS)})
    try:
        body = spec.input_model.model_validate(payload)
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]) from None
    result = await spec.call(services.backends.agents, ctx.tenant_id, body)
    return result.model_dump(mode="json")


@router.post("/compliance/check", response_model=ComplianceResult)
async def compliance_check(body: ComplianceRequest, ctx: TenantChat, services: ServicesDep) -> ComplianceResult:
    """Checks copy against the advertising-law rule packs and the tenant's own rules (``/v1/compliance/rules``):
    verdict, violations with spans and suggestions, a rewrite."""
    rules = await services.compliance_rules.active(ctx.tenant_id)
    return await services.compliance.check(ComplianceInput(**body.model_dump(), brand=rules))
