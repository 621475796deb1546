"""Direct LLM calls through the router (``/v1/messages*``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, GetJsonSchemaHandler, StringConstraints, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from api.schemas.common import USER_TURN, JsonInteger, JsonObject, StrictModel

Content = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]


class InputMessage(StrictModel):
    role: Literal["system", "user", "assistant"]
    content: Content


class MessagesRequest(StrictModel):
    """Exactly one of ``message`` (one user turn) or ``messages`` (a conversation)."""

    not_nullable = frozenset({"message", "messages"})

    message: Content | None = None
    messages: Annotated[list[InputMessage], Field(min_length=1, max_length=200)] | None = Field(
        None, json_schema_extra={"contains": USER_TURN}
    )
    system_prompt: Annotated[str, StringConstraints(max_length=50_000)] | None = None
    model: str | None = Field(None, description="an LLM alias (GET /v1/models) or a catalog model; default chat-default")
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=32_768), JsonInteger()] | None = None

    @model_validator(mode="after")
    def _one_input(self) -> MessagesRequest:
        if (self.message is None) == (self.messages is None):
            raise ValueError("send exactly one of 'message' or 'messages'")
        if self.messages is not None and not any(m.role == "user" for m in self.messages):
            raise ValueError("'messages' needs at least one user message")
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = super().__get_pydantic_json_schema__(core_schema, handler)
        handler.resolve_ref_schema(json_schema)["oneOf"] = [{"required": ["message"]}, {"required": ["messages"]}]
        return json_schema


class StructuredRequest(MessagesRequest):
    json_schema: JsonObject = Field(alias="schema", description="any JSON Schema the answer must satisfy")


class UsageOut(BaseModel):
    input_tokens: int
    output_tokens: int


class MessagesResponse(BaseModel):
    content: str
    model: str
    provider: str
    usage: UsageOut
    cost_usd: float
    latency_ms: float
    finish_reason: str | None = None
    fallbacks: int = Field(0, description="failed attempts before the answering model (retries and fallbacks)")


class StructuredResponse(MessagesResponse):
    data: Any
