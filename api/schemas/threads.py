from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, model_validator

from api.schemas.assistants import Sex
from api.schemas.common import JsonInteger, JsonObject, OrmModel, PatchModel, StrictModel


class _ThreadFields(StrictModel):
    name: str | None = Field(None, max_length=200)
    nickname: str | None = Field(None, max_length=100)
    real_name: str | None = Field(None, max_length=100)
    sex: Sex | None = Field(None, strict=False)
    age: Annotated[int, Field(ge=0, le=150), JsonInteger()] | None = None
    phone: str | None = Field(None, pattern=r"^\+?[0-9][0-9\- ]{4,30}$")
    external_user_id: str | None = Field(None, min_length=1, max_length=128,
                                         description="The customer's id in your systems: erase all their threads by it.")
    occupation: str | None = Field(None, max_length=100)
    services: list[str] | None = Field(None, max_length=100)
    is_converted: bool | None = None
    metadata: JsonObject | None = None


class ThreadCreate(_ThreadFields):
    assistant_id: str | None = None


class ThreadUpdate(_ThreadFields, PatchModel):
    not_nullable = frozenset({"services", "is_converted", "metadata"})

    assistant_id: str | None = None


class ThreadOut(OrmModel):
    thread_id: str
    tenant_id: str
    assistant_id: str | None
    status: str
    name: str | None
    nickname: str | None
    real_name: str | None
    sex: str | None
    age: int | None
    phone: str | None
    external_user_id: str | None = None
    occupation: str | None
    services: list[str]
    is_converted: bool
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("metadata_", "metadata"))
    handoff_reason: str | None = Field(None, description="Why the thread is with a person (status HANDOFF).")
    handoff_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="after")
    def _with_a_person(self) -> ThreadOut:
        if self.handoff_at is not None:
            self.status = "HANDOFF"  # over the run lease's IDLE/RUNNING: no AI reply until it is released
        return self


class HandoffRequest(StrictModel):
    reason: str = Field(min_length=1, max_length=200, description="Why a person takes over (shown to agents and in runs).")


class HumanReply(StrictModel):
    """A person's reply to the customer, stored in the transcript (for the AI's context once the thread is released)."""

    role: Literal["assistant"]
    content: str = Field(min_length=1, max_length=20_000)
    author: Literal["human"]


class MessageOut(OrmModel):
    message_id: str
    thread_id: str
    run_id: str | None
    role: str
    content: Any
    author: str | None = Field(None, description="human: a person's reply during a hand-off; null: the customer or AI.")
    created_at: datetime


class MessagePage(StrictModel):
    messages: list[MessageOut]
    has_more: bool
    next_before: str | None = Field(None, description="Pass as `before` to fetch the next older page.")
