"""The OpenAI Chat Completions wire format, as much of it as the router serves.

Unknown fields are ignored (not refused) here, unlike the rest of the API:
OpenAI clients send options this service has no use for.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.common import MAX_INT32, JsonInteger, JsonObject

_CONVERSATION_TURN = {"type": "object", "properties": {"role": {"enum": ["user", "assistant", "tool"]}}, "required": ["role"]}


class Lenient(BaseModel):
    """Unknown fields are ignored; known ones keep their JSON type (no ``0`` for ``false``)."""

    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)


class TextPart(Lenient):
    type: Literal["text"]
    text: str


class FunctionCall(Lenient):
    name: str
    arguments: str = ""


class ToolCallIn(Lenient):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessageIn(Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    tool_calls: list[ToolCallIn] = []
    tool_call_id: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class FunctionSpec(Lenient):
    name: str
    description: str = ""
    parameters: JsonObject = {"type": "object", "properties": {}}


class ToolIn(Lenient):
    type: Literal["function"]
    function: FunctionSpec


class JsonSchemaFormat(Lenient):
    name: str = "answer"
    schema_: JsonObject = Field(default_factory=dict, alias="schema")


class ResponseFormat(Lenient):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(Lenient):
    include_usage: bool = False


class ChatCompletionRequest(Lenient):
    model: str
    messages: Annotated[list[ChatMessageIn], Field(min_length=1, json_schema_extra={"contains": _CONVERSATION_TURN})]
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=MAX_INT32), JsonInteger()] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=MAX_INT32), JsonInteger()] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolIn] = []
    response_format: ResponseFormat | None = None
    user: str | None = None

    @model_validator(mode="after")
    def _needs_a_turn(self) -> ChatCompletionRequest:
        if all(message.role in ("system", "developer") for message in self.messages):
            raise ValueError("'messages' needs a user, assistant or tool message besides the instructions")
        return self
