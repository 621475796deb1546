"""Request/response models for versioned assistant prompts and the template library; the prompt config itself is
``agents.prompt_config``'s, where the Sales agent reads it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, Field

from agents.prompt_config import PROMPT_TEXT_MAX, PromptConfig, PromptFields
from agents.prompt_library import PromptTemplate, ValidationIssue
from api.schemas.common import MAX_INT32, JsonInteger, JsonObject, OrmModel, PatchModel, StrictModel

Version = Annotated[int, Field(ge=1, le=MAX_INT32), JsonInteger()]


class PromptConfigPatch(PromptFields, PatchModel):
    """Partial update: only the fields sent replace those of the active version."""

    not_nullable = frozenset({"personality_prompt"})

    personality_prompt: str | None = Field(None, min_length=1, max_length=PROMPT_TEXT_MAX)
    safety_guidelines: list[str] | None = Field(None, max_length=50)
    forbidden_topics: list[str] | None = Field(None, max_length=100)


class PromptCreate(StrictModel):
    prompt_config: PromptConfig


class PromptUpdate(StrictModel):
    prompt_config: PromptConfigPatch
    base_version: Version | None = Field(
        None, description="The version this edit was made on; 409 PROMPT_VERSION_CONFLICT if another is active now."
    )


class PromptRollback(StrictModel):
    version: Version


class PromptClone(StrictModel):
    target_assistant_id: str = Field(min_length=1)


class PromptVersionOut(OrmModel):
    assistant_id: str
    tenant_id: str
    version: int
    is_active: bool
    note: str | None = None
    created_at: datetime
    prompt_config: dict[str, Any] = Field(validation_alias=AliasChoices("config", "prompt_config"))


class PromptHistory(BaseModel):
    assistant_id: str
    versions: list[PromptVersionOut]


class PromptValidateRequest(StrictModel):
    # Any (bounded) object on purpose: the validator reports bad content as issues, not as a 422.
    prompt_config: JsonObject


class PromptValidateResponse(BaseModel):
    valid: bool
    issues: list[ValidationIssue]


class TemplateList(BaseModel):
    templates: list[PromptTemplate]
    categories: list[str]
