"""The router's public request/response models.

They cross Ray handles between deployments, so they are plain module-level
pydantic models (pickle cleanly) with no references to clients or loops.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Role = Literal["system", "user", "assistant", "tool"]
Lane = Literal["live", "batch"]


class ToolCall(BaseModel):
    id: str
    name: str
    arguments: str = Field(description="The arguments as JSON text, exactly as the model produced them.")


class ChatMessage(BaseModel):
    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = []
    tool_call_id: str | None = None


class ToolSpec(BaseModel):
    name: str
    description: str = ""
    parameters: dict[str, Any] = {"type": "object", "properties": {}}


class LLMRequest(BaseModel):
    messages: list[ChatMessage] = Field(min_length=1)
    system: str | None = Field(default=None, description="System prompt (Anthropic gets it as its own parameter).")
    model: str | None = Field(default=None, description="Alias or model name; None -> the catalog's default alias.")
    temperature: float | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    tools: list[ToolSpec] = []
    json_schema: dict[str, Any] | None = Field(default=None, description="Structured output: response.data is validated.")
    tenant_id: str | None = Field(default=None, description="Per-tenant limits apply; None = not limited.")
    lane: Lane = Field(default="live", description="batch: counted against the tenant's limits apart from live traffic.")
    metadata: dict[str, str] = {}


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(input_tokens=self.input_tokens + other.input_tokens, output_tokens=self.output_tokens + other.output_tokens)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Attempt(BaseModel):
    """One call to one model: every try is listed, failed ones included, so fallbacks are visible."""

    model: str
    provider: str
    ok: bool
    error: str | None = None
    latency_ms: float


class LLMResponse(BaseModel):
    content: str
    model: str
    provider: str
    usage: Usage
    cost_usd: float
    latency_ms: float
    first_token_ms: float | None = Field(
        default=None, description="Streamed answers: the engine's own time to first token (provider call to first chunk)."
    )
    finish_reason: str | None = None
    tool_calls: list[ToolCall] = []
    data: Any = Field(default=None, description="The parsed structured output (requests with json_schema).")
    attempts: list[Attempt] = []
    offline: bool = Field(
        default=False, description="No real model answered: the offline provider's placeholder (callers may write their own)."
    )


class StreamEvent(BaseModel):
    """A text delta; the last event of a stream has an empty delta and carries the whole response.

    ``offline`` is set on every event of a stream that no real model answers, so a caller with a fallback of its
    own knows it from the first event, before it has passed on any text.
    """

    delta: str = ""
    offline: bool = False
    response: LLMResponse | None = None


class ModelInfo(BaseModel):
    id: str
    kind: Literal["alias", "model"]
    provider: str | None
    context_window: int | None
    owned_by: str = "mas"


def merge_deltas(first: StreamEvent, second: StreamEvent) -> StreamEvent | None:
    """Two text deltas as one (for ``llm.coalesce.coalesced``); the final event, with the response, stays apart."""
    if first.response is not None or second.response is not None:
        return None
    return StreamEvent(delta=first.delta + second.delta, offline=first.offline)
