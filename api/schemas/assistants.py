from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import Field

from api.schemas.common import JsonObject, OrmModel, PatchModel, ShortText, StrictModel
from runs.multitask import Strategy


class Sex(str, Enum):
    MALE = "MALE"
    FEMALE = "FEMALE"
    OTHER = "OTHER"


class AssistantStatus(str, Enum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


STRATEGY = "What a run of this assistant does while another is active on its thread, unless the run says."
MERGE_WINDOW = "merge: a message within this many seconds of the one before joins its burst (one run answers them)."


class _AssistantFields(StrictModel):
    nickname: str | None = Field(None, max_length=100)
    sex: Sex | None = Field(None, strict=False)
    address: str | None = Field(None, max_length=300)
    voice_id: str | None = Field(None, max_length=100)
    voice_file: str | None = Field(None, max_length=500)
    model: str | None = Field(None, max_length=100)


class AssistantCreate(_AssistantFields):
    tenant_id: str | None = Field(None, description="Optional; must be the caller's tenant.")
    assistant_name: ShortText
    personality: str = Field(min_length=1, max_length=4000)
    occupation: ShortText
    industry: ShortText
    profile: JsonObject = Field(default_factory=dict)
    status: AssistantStatus = Field(AssistantStatus.ACTIVE, strict=False)
    multitask_strategy: Strategy = Field("reject", description=STRATEGY)
    merge_window_seconds: float = Field(2.0, ge=0.1, le=5, description=MERGE_WINDOW)


class AssistantUpdate(_AssistantFields, PatchModel):
    not_nullable = frozenset({"assistant_name", "personality", "occupation", "industry", "profile", "status",
                              "multitask_strategy", "merge_window_seconds"})

    tenant_id: str | None = None
    assistant_name: ShortText | None = None
    personality: str | None = Field(None, min_length=1, max_length=4000)
    occupation: ShortText | None = None
    industry: ShortText | None = None
    profile: JsonObject | None = None
    status: AssistantStatus | None = Field(None, strict=False)
    multitask_strategy: Strategy | None = Field(None, description=STRATEGY)
    merge_window_seconds: float | None = Field(None, ge=0.1, le=5, description=MERGE_WINDOW)


class AssistantOut(OrmModel):
    assistant_id: str
    tenant_id: str
    assistant_name: str
    nickname: str | None
    personality: str
    occupation: str
    industry: str
    profile: dict[str, Any]
    sex: str | None
    address: str | None
    voice_id: str | None
    voice_file: str | None
    model: str | None
    multitask_strategy: str
    merge_window_seconds: float
    status: str
    created_at: datetime
    updated_at: datetime
