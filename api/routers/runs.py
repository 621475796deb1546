"""Runs of the agent graph on a thread (``tenant:chat``): wait, stream (SSE), async (queued, webhook), suggestions."""

from __future__ import annotations

import ipaddress
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any, cast

from fastapi import APIRouter, status
from fastapi.responses import StreamingResponse

from api.auth import TenantChat, TenantContext
from api.deps import ServicesDep
from api.errors import ApiError, found
from api.routers import CheckedRoute
from api.schemas.runs import (
    AsyncRunAccepted,
    AsyncRunCreate,
    HandoffResult,
    IdempotencyKey,
    LastEventId,
    RunCreate,
    RunMessage,
    RunRecord,
    RunResult,
    RunStatus,
    SuggestionResult,
)
from runs.errors import ThreadBusy
from runs.executor import RunEvent, error_body
from runs.idempotency import RunRequest, keyed_run
from runs.multitask import Strategy
from runtime.services import Services
from store.models import Assistant, Run, new_id
from store.run_events import LoggedEvent
from store.runs import KeyTaken

router = APIRouter(prefix="/v1/threads", tags=["runs"], route_class=CheckedRoute)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
logger = logging.getLogger("mas.api")


async def _target(services: Services, ctx: TenantContext, thread_id: str, body: RunCreate) -> tuple[Strategy, Assistant]:
    """The run's multitask strategy (its own, else its assistant's) and assistant; 404 for an unknown thread or
    assistant."""
    found(await services.threads.get(ctx.tenant_id, thread_id), "thread", thread_id)
    assistant = found(await services.assistants.get(ctx.tenant_id, body.assistant_id), "assistant", body.assistant_id)
    return body.multitask_strategy or cast(Strategy, assistant.multitask_strategy), assistant


async def start_turn(services: Services, ctx: TenantContext, thread_id: str, body: RunCreate, mode: str,
                     key: str | None = None) -> tuple[Run, AsyncIterator[RunEvent]]:
    """Starts a wait or stream run as its multitask strategy says, and returns it with its events: with ``merge``,
    the run that answers this message's burst (a run with an idempotency ``key`` is never merged: the key names a
    run of its own, so it is enqueued instead)."""
    strategy, assistant = await _target(services, ctx, thread_id, body)
    if strategy != "merge" or key is not None:
        return await services.executor.start(start_run(services, ctx, thread_id, body, mode, key, strategy))

    def launch(messages: list[dict[str, Any]]) -> Awaitable[tuple[Run, AsyncIterator[RunEvent]]]:
        burst = body.model_copy(update={"input": [RunMessage.model_validate(message) for message in messages]})
        return services.executor.start(start_run(services, ctx, thread_id, burst, mode, strategy="enqueue"))

    return await services.multitask.merged(ctx.tenant_id, thread_id, _run_fields(body)["input"],
                                           assistant.merge_window_seconds, launch)


def _run_fields(body: RunCreate) -> dict[str, Any]:
    return {
        "assistant_id": body.assistant_id,
        "input": [message.model_dump(mode="json") for message in body.input],
        "metadata": body.metadata,
        "requested_model": body.model,
    }


async def start_run(services: Services, ctx: TenantContext, thread_id: str, body: RunCreate, mode: str,
                    key: str | None = None, strategy: Strategy | None = None) -> Run:
    """Takes the thread's lease (as the run's multitask ``strategy`` says, read when not given; else 409
    THREAD_BUSY) and stores the run as running.

    Raises ``KeyTaken`` when another request with the idempotency ``key`` stored its run first."""
    if strategy is None:
        strategy, _ = await _target(services, ctx, thread_id, body)

    def start(run_id: str) -> Awaitable[Run | None]:
        return services.runs.start(ctx.tenant_id, thread_id, services.settings.run_lease_seconds, run_id=run_id,
                                   mode=mode, idempotency_key=key, request_id=ctx.request_id, **_run_fields(body))

    run = await services.multitask.begin(ctx.tenant_id, thread_id, strategy, start)
    if run is not None:
        return run
    if key is not None and await services.runs.by_key(ctx.tenant_id, key) is not None:
        raise KeyTaken(key)
    raise ThreadBusy(ctx.tenant_id, thread_id, mode)


def refuse_private_webhook(host: str) -> None:
    """400 for a webhook aimed at this machine or a private network (SSRF), unless MAS_WEBHOOK_ALLOW_PRIVATE.

    Checks the host as written: a public name that resolves to a private address is the network's to block.
    """
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        private = host.lower() == "localhost" or host.lower().endswith(".localhost")
    else:
        private = not address.is_global
    if private:
        raise ApiError(400, "WEBHOOK_URL_NOT_ALLOWED", f"webhooks may not target '{host}' (a private or loopback address)")


def failure(event: RunEvent) -> ApiError:
    error = event.data["error"]
    return ApiError(event.status, error["code"], error["message"], error.get("details"))


@router.post("/{thread_id}/runs/wait", response_model=RunResult | HandoffResult)
async def run_wait(thread_id: str, body: RunCreate, ctx: TenantChat, services: ServicesDep,
                   idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    """With an ``Idempotency-Key``, a repeated request answers with the run the key started (waiting while it runs)."""
    request = RunRequest(thread_id=thread_id, mode="wait", **_run_fields(body))
    while True:
        if idempotency_key is not None and (done := await keyed_run(services.runs, ctx.tenant_id, idempotency_key, request)):
            return done.result or {}
        try:
            _, events = await start_turn(services, ctx, thread_id, body, "wait", idempotency_key)
            break
        except KeyTaken:
            continue
    async for event in events:
        if event.name == "run.completed":
            return event.data
        if event.name in ("run.failed", "run.cancelled"):
            raise failure(event)
    raise RuntimeError("the run ended without an outcome")


def sse(event: RunEvent | LoggedEvent) -> str:
    seq = event.seq if isinstance(event, LoggedEvent) else event.id
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {event.name}\ndata: {json.dumps(event.data, ensure_ascii=False)}\n\n"


@router.post("/{thread_id}/runs/stream", response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}, "description": "run.started, agent.completed, "
                              "message.delta, then run.completed or run.failed"}})
async def run_stream(thread_id: str, body: RunCreate, ctx: TenantChat, services: ServicesDep) -> StreamingResponse:
    """Server-sent events; the run goes on (and its reply is stored) even if the client disconnects."""
    run, events = await start_turn(services, ctx, thread_id, body, "stream")

    async def frames(events: AsyncIterator[RunEvent]) -> AsyncIterator[str]:
        try:
            async for event in events:
                yield sse(event)
        except Exception as exc:  # the status is already sent: the stream still ends with the run's failure
            status, error = error_body(exc)
            if status >= 500:
                logger.exception("run %s stream failed", run.run_id)
            yield sse(RunEvent("run.failed", {"run_id": run.run_id, "thread_id": thread_id, "status": "failed", "error": error}, status))

    return StreamingResponse(frames(events), media_type="text/event-stream", headers=SSE_HEADERS)


@router.post("/{thread_id}/runs/async", response_model=AsyncRunAccepted, status_code=status.HTTP_202_ACCEPTED)
async def run_async(thread_id: str, body: AsyncRunCreate, ctx: TenantChat, services: ServicesDep,
                    idempotency_key: IdempotencyKey = None) -> AsyncRunAccepted:
    """Stored before the 202; a worker runs it (waiting while the thread is busy) and POSTs the webhook. With an
    ``Idempotency-Key``, a repeated request gets the run the key first queued."""
    strategy, _ = await _target(services, ctx, thread_id, body)
    if body.webhook_url is not None and not services.settings.webhook_allow_private:
        refuse_private_webhook(body.webhook_url.host or "")
    request = RunRequest(thread_id=thread_id, mode="async", **_run_fields(body))
    while True:
        if idempotency_key is not None and (run := await keyed_run(services.runs, ctx.tenant_id, idempotency_key, request)):
            return AsyncRunAccepted.model_validate(run, from_attributes=True)
        if strategy == "reject" and await services.runs.active(ctx.tenant_id, thread_id):
            raise ThreadBusy(ctx.tenant_id, thread_id, "async")
        run_id = new_id()
        await services.multitask.supersede(ctx.tenant_id, thread_id, strategy, run_id)
        try:
            run = await services.runs.create(ctx.tenant_id, thread_id, run_id=run_id, mode="async", status="queued",
                                             webhook_url=str(body.webhook_url) if body.webhook_url else None,
                                             idempotency_key=idempotency_key, request_id=ctx.request_id,
                                             **_run_fields(body))
            break
        except KeyTaken:
            continue
    await services.wake_worker()
    return AsyncRunAccepted.model_validate(run, from_attributes=True)


async def _run(services: Services, ctx: TenantContext, thread_id: str, run_id: str) -> Run:
    return found(await services.runs.get(ctx.tenant_id, thread_id, run_id), "run", run_id)


@router.post("/{thread_id}/runs/{run_id}/cancel", response_model=RunStatus)
async def run_cancel(thread_id: str, run_id: str, ctx: TenantChat, services: ServicesDep) -> RunStatus:
    """Ends a queued or running run as ``cancelled`` (its generation is aborted, nothing of it is stored) and frees
    the thread at once; a run already cancelled answers as it is, a finished one 409 RUN_FINISHED."""
    run = await _run(services, ctx, thread_id, run_id)
    if not await services.multitask.cancel(run):
        run = await _run(services, ctx, thread_id, run_id)
        if run.status != "cancelled":
            raise ApiError(409, "RUN_FINISHED", f"run '{run_id}' has already finished ({run.status})", {"status": run.status})
    return RunStatus.model_validate(run, from_attributes=True)


@router.get("/{thread_id}/runs/{run_id}/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "The run's events (each with its id), "
                             "live while it runs, ending with run.completed, run.failed or run.cancelled"}})
async def run_join(thread_id: str, run_id: str, ctx: TenantChat, services: ServicesDep,
                   last_event_id: LastEventId = None) -> StreamingResponse:  # type: ignore[assignment]
    """Joins a running or recently finished run of any mode; with ``Last-Event-ID``, resumes after that event."""
    run = await _run(services, ctx, thread_id, run_id)

    async def frames() -> AsyncIterator[str]:
        async for event in services.events.follow(run, last_event_id or 0):
            yield sse(event)

    return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/{thread_id}/runs/{run_id}/status", response_model=RunStatus)
async def run_status(thread_id: str, run_id: str, ctx: TenantChat, services: ServicesDep) -> RunStatus:
    return RunStatus.model_validate(await _run(services, ctx, thread_id, run_id), from_attributes=True)


@router.get("/{thread_id}/runs/{run_id}", response_model=RunRecord)
async def run_record(thread_id: str, run_id: str, ctx: TenantChat, services: ServicesDep) -> RunRecord:
    """The run with its input, per-agent results and timings, tokens, cost, model and webhook delivery."""
    return RunRecord.of(await _run(services, ctx, thread_id, run_id))


@router.post("/{thread_id}/runs/suggestion", response_model=SuggestionResult)
async def suggestion(thread_id: str, body: RunCreate, ctx: TenantChat, services: ServicesDep) -> SuggestionResult:
    """Three replies a human agent could send next; nothing is sent or stored."""
    await _target(services, ctx, thread_id, body)  # 404 for an unknown thread or assistant
    draft = Run(run_id=str(uuid.uuid4()), tenant_id=ctx.tenant_id, thread_id=thread_id, assistant_id=body.assistant_id,
                input=_run_fields(body)["input"], requested_model=body.model)
    suggestions = await services.executor.suggest(draft)
    return SuggestionResult(thread_id=thread_id, response=suggestions.replies, model=suggestions.model,
                            input_tokens=suggestions.input_tokens, output_tokens=suggestions.output_tokens,
                            cost_usd=suggestions.cost_usd)
