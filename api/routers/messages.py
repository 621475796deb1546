"""Direct LLM calls through the router (``tenant:chat``): plain, Responses API passthrough, structured."""

from __future__ import annotations

from typing import Any

import jsonschema
from fastapi import APIRouter, Body

from api.auth import TenantChat
from api.deps import ServicesDep
from api.errors import ApiError
from api.routers import CheckedRoute
from api.schemas.llm import MessagesRequest, MessagesResponse, StructuredRequest, StructuredResponse, UsageOut
from llm.structured import ref_problem
from llm.types import ChatMessage, LLMRequest, LLMResponse

router = APIRouter(prefix="/v1/messages", tags=["llm"], route_class=CheckedRoute)


def llm_request(body: MessagesRequest, tenant_id: str, **extra: Any) -> LLMRequest:
    if body.message is not None:
        messages = [ChatMessage(role="user", content=body.message)]
    else:
        messages = [ChatMessage(role=m.role, content=m.content) for m in body.messages or []]
    return LLMRequest(
        messages=messages,
        system=body.system_prompt,
        model=body.model,
        temperature=body.temperature,
        max_tokens=body.max_tokens,
        tenant_id=tenant_id,
        **extra,
    )


def _out(response: LLMResponse) -> dict[str, Any]:
    return {
        "content": response.content,
        "model": response.model,
        "provider": response.provider,
        "usage": UsageOut(**response.usage.model_dump()),
        "cost_usd": response.cost_usd,
        "latency_ms": response.latency_ms,
        "finish_reason": response.finish_reason,
        "fallbacks": sum(1 for attempt in response.attempts if not attempt.ok),
    }


@router.post("", response_model=MessagesResponse)
async def complete(body: MessagesRequest, ctx: TenantChat, services: ServicesDep) -> MessagesResponse:
    return MessagesResponse(**_out(await services.backends.llm.complete(llm_request(body, ctx.tenant_id))))


@router.post("/responses")
async def responses(ctx: TenantChat, services: ServicesDep, payload: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """OpenAI Responses API passthrough: the body is a Responses API request; needs an OpenAI route."""
    return await services.backends.llm.responses(payload, ctx.tenant_id)


@router.post("/responses/structured", response_model=StructuredResponse)
async def structured(body: StructuredRequest, ctx: TenantChat, services: ServicesDep) -> StructuredResponse:
    """The answer as ``data``, validated against the request's JSON Schema (one repair attempt on a mismatch)."""
    try:
        jsonschema.validators.validator_for(body.json_schema).check_schema(body.json_schema)
    except jsonschema.SchemaError as exc:
        raise ApiError(400, "INVALID_SCHEMA", f"not a valid JSON Schema: {exc.message}", {"path": list(map(str, exc.path))}) from None
    if (problem := ref_problem(body.json_schema)) is not None:
        raise ApiError(400, "INVALID_SCHEMA", f"unusable JSON Schema: {problem}")
    request = llm_request(body, ctx.tenant_id, json_schema=body.json_schema)
    if request.model is None:
        request.model = "structured"
    response = await services.backends.llm.complete(request)
    return StructuredResponse(**_out(response), data=response.data)
