"""OpenAI-compatible ``POST /v1/chat/completions`` and ``GET /v1/models`` (``tenant:chat``).

``model`` is an LLM alias or catalog model (the router answers directly), or
an assistant id: then the customer's latest messages run the full agent graph
on the thread named by the ``X-MAS-Thread-ID`` header or the ``user`` field,
exactly like ``runs/wait`` and ``runs/stream``. The official ``openai`` client
works against it unchanged: base_url ``<api>/v1``, api_key = an access token.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from api.auth import TenantChat, TenantContext
from api.deps import ServicesDep
from api.errors import ApiError
from api.routers import CheckedRoute
from api.routers.runs import failure, start_turn
from api.schemas.openai_compat import ChatCompletionRequest
from api.schemas.runs import RunCreate, RunMessage
from llm.coalesce import HOP_INTERVAL_S, coalesced
from llm.errors import LLMError
from llm.types import ChatMessage, LLMRequest, LLMResponse, StreamEvent, ToolCall, ToolSpec, merge_deltas
from runs.executor import RunEvent, error_body
from runs.multitask import Strategy
from runtime.services import Services

router = APIRouter(prefix="/v1", tags=["openai-compatible"], route_class=CheckedRoute)
logger = logging.getLogger("mas.api")
_ROLES = {"developer": "system"}


def to_llm_request(body: ChatCompletionRequest, tenant_id: str) -> LLMRequest:
    system = "\n\n".join(m.text() for m in body.messages if m.role in ("system", "developer")) or None
    messages = [
        ChatMessage(
            role=_ROLES.get(m.role, m.role),  # type: ignore[arg-type]
            content=m.text(),
            tool_calls=[ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments) for c in m.tool_calls],
            tool_call_id=m.tool_call_id,
        )
        for m in body.messages
        if m.role not in ("system", "developer")
    ]
    schema = None
    if body.response_format and body.response_format.type == "json_schema" and body.response_format.json_schema:
        schema = body.response_format.json_schema.schema_
    elif body.response_format and body.response_format.type == "json_object":
        schema = {"type": "object"}
    return LLMRequest(
        messages=messages,
        system=system,
        model=body.model,
        temperature=body.temperature,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        tools=[ToolSpec(**tool.function.model_dump()) for tool in body.tools],
        json_schema=schema,
        tenant_id=tenant_id,
    )


def _tool_calls(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls]


def _usage(response: LLMResponse) -> dict[str, int]:
    usage = response.usage
    return {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens, "total_tokens": usage.input_tokens + usage.output_tokens}


def _finish_reason(response: LLMResponse) -> str:
    return "tool_calls" if response.tool_calls else (response.finish_reason or "stop")


def completion(response: LLMResponse) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": response.content}
    if response.tool_calls:
        message["tool_calls"] = _tool_calls(response.tool_calls)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": response.model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(response)}],
        "usage": _usage(response),
        "provider": response.provider,
        "cost_usd": response.cost_usd,
    }


async def completion_chunks(first: StreamEvent, rest: AsyncIterator[StreamEvent], model: str, include_usage: bool) -> AsyncIterator[str]:
    """SSE frames in the chat.completion.chunk format, ending with ``[DONE]``; a failure mid-stream ends with an error frame."""
    chunk_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def frame(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield frame({"role": "assistant", "content": ""})
    event: StreamEvent | None = first
    try:
        while event is not None:
            if event.delta:
                yield frame({"content": event.delta})
            if event.response is not None:
                final = event.response
                model = final.model
                tool_delta = {"tool_calls": [dict(call, index=i) for i, call in enumerate(_tool_calls(final.tool_calls))]} if final.tool_calls else {}
                yield frame(tool_delta, _finish_reason(final))
                if include_usage:
                    body = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "usage": _usage(final)}
                    yield f"data: {json.dumps(body)}\n\n"
            event = await anext(rest, None)
    except Exception as exc:  # a failure after the first frame, whatever it is: the status is already sent
        status, error = error_body(exc)
        if status >= 500 and not isinstance(exc, LLMError):
            logger.exception("chat completion stream failed")
        yield f"data: {json.dumps({'error': error})}\n\n"
    yield "data: [DONE]\n\n"


def _is_uuid(model: str) -> bool:
    """Assistant ids are UUIDs: an LLM alias or model name skips the assistant lookup (no query on that hot path)."""
    try:
        uuid.UUID(model)
    except ValueError:
        return False
    return True


def _turn_input(body: ChatCompletionRequest) -> list[RunMessage]:
    """The customer's messages after the assistant's last one: earlier turns are already in the thread."""
    latest: list[RunMessage] = []
    for message in body.messages:
        if message.role == "assistant":
            latest = []
        elif message.role == "user" and message.text().strip():
            latest.append(RunMessage(role="user", content=message.text()))
    if not latest:
        raise ApiError(400, "NO_USER_MESSAGE", "an assistant run needs a user message after the last assistant message")
    return latest


def _graph_response(result: dict[str, Any], assistant_id: str) -> LLMResponse:
    usage = {"input_tokens": result["input_tokens"], "output_tokens": result["output_tokens"]}
    return LLMResponse(content=result["response"], model=assistant_id, provider=result["model"] or "mas", usage=usage,
                       cost_usd=result["cost_usd"], latency_ms=result["processing_time"] * 1000, finish_reason="stop")


async def _graph_events(events: AsyncIterator[RunEvent], assistant_id: str) -> AsyncIterator[StreamEvent]:
    async for event in events:
        if event.name == "message.delta":
            yield StreamEvent(delta=event.data["delta"])
        elif event.name == "run.completed":
            yield StreamEvent(response=_graph_response(event.data, assistant_id))
        elif event.name in ("run.failed", "run.cancelled"):
            raise failure(event)


async def _assistant_completion(body: ChatCompletionRequest, ctx: TenantContext, services: Services, thread_id: str | None,
                                strategy: Strategy | None) -> Any:
    thread_id = thread_id or body.user
    if not thread_id:
        raise ApiError(400, "THREAD_REQUIRED", "name the thread to run on with the X-MAS-Thread-ID header or the 'user' field")
    run, run_events = await start_turn(services, ctx, thread_id,
                                       RunCreate(assistant_id=body.model, input=_turn_input(body), multitask_strategy=strategy),
                                       "stream" if body.stream else "wait")
    events = aiter(_graph_events(run_events, body.model))
    if not body.stream:
        async for event in events:
            if event.response is not None:
                return {**completion(event.response), "mas_run": {"run_id": run.run_id, "thread_id": thread_id}}
    first = await anext(events)  # a run that fails before its first text still gets a proper status and envelope
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return StreamingResponse(completion_chunks(first, events, body.model, include_usage), media_type="text/event-stream")


@router.post("/chat/completions", responses={200: {"description": "A chat.completion, or with `stream: true` chat.completion.chunk "
                                                  "events ending with `data: [DONE]`", "content": {"text/event-stream": {}}}})
async def chat_completions(
    body: ChatCompletionRequest,
    ctx: TenantChat,
    services: ServicesDep,
    x_mas_thread_id: Annotated[str | None, Header(description="The thread an assistant run goes to (else `user`).")] = None,
    # Typed without None: a header is a string or absent, and a null in its schema would invite "null".
    x_mas_multitask_strategy: Annotated[Strategy, Header(
        description="An assistant run's multitask_strategy (default: the assistant's), as on the runs endpoints.")] = None,  # type: ignore[assignment]
) -> Any:
    """``model`` is an LLM alias or catalog model (``GET /v1/models``), or an assistant id (runs the agent graph);
    ``stream: true`` answers with SSE chunks."""
    if _is_uuid(body.model) and await services.assistants.get(ctx.tenant_id, body.model) is not None:
        return await _assistant_completion(body, ctx, services, x_mas_thread_id, x_mas_multitask_strategy)
    request = to_llm_request(body, ctx.tenant_id)
    if not body.stream:
        return completion(await services.backends.llm.complete(request))
    events = aiter(services.backends.llm.stream(request))
    first = await anext(events)  # errors before the first token still get a proper status and envelope
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    # Deltas merged per HOP_INTERVAL_S go out as one SSE frame: each frame is a message through Serve's proxy.
    rest = coalesced(events, merge_deltas, HOP_INTERVAL_S)
    return StreamingResponse(completion_chunks(first, rest, body.model, include_usage), media_type="text/event-stream")


@router.get("/models")
async def models(ctx: TenantChat, services: ServicesDep) -> dict[str, Any]:
    """The LLM aliases and catalog models this deployment can route to."""
    infos = await services.backends.llm.models()
    return {"object": "list", "data": [{"id": m.id, "object": "model", "created": 0, "owned_by": m.owned_by, "mas_kind": m.kind} for m in infos]}
