"""Runs of the agent graph on a thread: request bodies and the run record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Header
from pydantic import AnyHttpUrl, BaseModel, Field, StringConstraints, model_validator

from agents.bounds import MediaUrl
from agents.intent import Invitation
from api.schemas.common import USER_TURN, JsonObject, StrictModel
from runs.multitask import Strategy

Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
    description="Any unique printable ASCII string per turn (a UUID): sent again with the same request after a lost "
                "answer (a dropped connection, a 5xx), it gets the run it first started, never a second turn.",
)]


# Typed without None: a header is a string or absent, and a null in its schema would invite "null".
LastEventId = Annotated[int, Header(
    alias="Last-Event-ID", ge=0, le=2**53,
    description="The id of the last event the client saw: the stream resumes after it (the SSE reconnect header).",
)]


class TextPart(StrictModel):
    type: Literal["text"]
    content: Text


class MediaPart(StrictModel):
    type: Literal["input_image", "input_audio"]
    content: MediaUrl = Field(description="An http(s) URL of the image or audio.")


class RunMessage(StrictModel):
    role: Literal["user", "assistant", "system"]
    content: Text | Annotated[list[TextPart | MediaPart], Field(min_length=1, max_length=20)]


class RunCreate(StrictModel):
    assistant_id: str = Field(min_length=1, max_length=36)
    input: list[RunMessage] = Field(min_length=1, max_length=50, json_schema_extra={"contains": USER_TURN})
    metadata: JsonObject = Field(default_factory=dict)
    model: str | None = Field(None, max_length=100, description="An LLM alias or model for the reply; default: the prompt's.")
    multitask_strategy: Strategy | None = Field(
        None, description="What this run does while another is active on the thread: reject (409 THREAD_BUSY), enqueue "
                          "(run after it), interrupt (cancel it, keep its input unanswered and answer both), rollback "
                          "(cancel it and drop its input). Default: the assistant's.")

    @model_validator(mode="after")
    def _needs_a_user_message(self) -> RunCreate:
        if not any(message.role == "user" for message in self.input):
            raise ValueError("'input' needs at least one user message")
        return self


class AsyncRunCreate(RunCreate):
    webhook_url: AnyHttpUrl | None = Field(None, description="POSTed the run record when it ends, signed with X-MAS-Signature.")


class RunTimings(BaseModel):
    """Where the run's time went, in ms: the executor's phases around the graph's (absent: not measured)."""

    queued_ms: float = Field(description="From the run's creation to the start of its execution (async: the queue).")
    context_ms: float | None = Field(None, description="Reading the turn's context (thread, assistant, prompt, window).")
    agents_ms: float = Field(description="Input compliance and the parallel agents, until the reply was asked for.")
    first_token_ms: float | None = Field(None, description="The reply's first text, from the sales call, as the graph saw it.")
    engine_first_token_ms: float | None = Field(None, description="The engine's own time to first token (in the router).")
    router_overhead_ms: float | None = Field(None, description="first_token_ms - engine_first_token_ms: handle hops, "
                                             "routing and tenant admission between the graph and the engine.")
    generation_ms: float = Field(description="The sales call to the reply's end, output compliance included.")
    total_ms: float = Field(description="The execution until the reply was ready to store.")


class RunResult(BaseModel):
    """The body of ``runs/wait``, of the stream's ``run.completed``, and ``result`` of the run record."""

    run_id: str
    thread_id: str
    status: Literal["completed"]
    response: str
    model: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    processing_time: float = Field(description="Seconds from the start of execution to the stored reply.")
    invitation: Invitation
    blocked: bool = Field(description="Input compliance blocked the message: the response is a safe reply, no LLM was called.")
    agents: dict[str, Any] = Field(description="Per agent: status (ok, degraded, skipped), latency_ms, started_ms, output, "
                                   "reason.")
    timings: RunTimings | None = Field(None, description="The latency split (runs stored before it was measured: null).")


class AsyncRunAccepted(BaseModel):
    run_id: str
    thread_id: str
    status: Literal["queued", "running", "completed", "handoff", "failed", "cancelled"] = Field(
        description="queued, or where an Idempotency-Key named an earlier run, that run's status now.")
    created_at: datetime


class HandoffResult(BaseModel):
    """The body of a run on a thread that is with a person: the customer's message was stored, no AI reply made."""

    run_id: str
    thread_id: str
    status: Literal["handoff"]
    response: None
    handoff_reason: str = Field(description="Why the thread is with a person: the API's reason, or a hand-off rule's "
                                "category (self_harm, human_request, urgent_complaint, clinical_*).")


class RunStatus(BaseModel):
    run_id: str
    thread_id: str
    status: Literal["queued", "running", "completed", "handoff", "failed", "cancelled"]
    created_at: datetime
    updated_at: datetime
    error: dict[str, Any] | None = None


class Webhook(BaseModel):
    url: str
    status: str
    attempts: int
    error: str | None = None


class RunRecord(RunStatus):
    assistant_id: str | None
    mode: Literal["wait", "stream", "async"]
    input: list[dict[str, Any]]
    metadata: dict[str, Any]
    requested_model: str | None
    model: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    attempts: int = Field(description="Executions started: more than one when a worker died and another took the run over.")
    started_at: datetime | None
    finished_at: datetime | None
    result: RunResult | HandoffResult | None
    webhook: Webhook | None

    @classmethod
    def of(cls, run: Any) -> RunRecord:
        """The record of a stored ``store.models.Run``."""
        webhook = None
        if run.webhook_url:
            webhook = Webhook(url=run.webhook_url, status=run.webhook_status, attempts=run.webhook_attempts, error=run.webhook_error)
        fields = {name: getattr(run, name) for name in cls.model_fields if name not in ("metadata", "webhook")}
        return cls.model_validate({**fields, "metadata": run.metadata_, "webhook": webhook})


class SuggestionResult(BaseModel):
    thread_id: str
    response: list[str] = Field(description="Replies a human agent could send, each checked by output compliance.")
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float


async def run_record_body(run: Any) -> bytes:
    """A run webhook's body: the run record, as ``GET /v1/threads/{id}/runs/{run_id}`` shows it."""
    return RunRecord.of(run).model_dump_json().encode()


class RunList(BaseModel):
    runs: list[RunRecord] = Field(description="Newest first.")
