"""An assistant's prompt config: what one prompt version tells the Sales agent (persona, scripts, rules, model).

Defined here, where it is read (``agents.sales``), and served as it is by the prompt API
(``api/schemas/prompts.py``), so it validates like every request model there: unknown keys and
values of another JSON type are refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

PROMPT_TEXT_MAX = 8000


def _json_integer(value: Any) -> Any:
    """JSON has one number type: ``600.0`` is the integer 600 (strict validation would refuse it)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class LLMParameters(_Strict):
    model: str | None = Field(None, max_length=100)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: Annotated[int, Field(ge=1, le=32000), BeforeValidator(_json_integer)] | None = None


class PromptFields(_Strict):
    """The optional fields, shared with the prompt API's partial update."""

    greeting_prompt: str | None = Field(None, max_length=PROMPT_TEXT_MAX)
    product_recommendation_prompt: str | None = Field(None, max_length=PROMPT_TEXT_MAX)
    objection_handling_prompt: str | None = Field(None, max_length=PROMPT_TEXT_MAX)
    closing_prompt: str | None = Field(None, max_length=PROMPT_TEXT_MAX)
    context_instructions: str | None = Field(None, max_length=PROMPT_TEXT_MAX)
    llm_parameters: LLMParameters | None = None
    brand_voice: str | None = Field(None, max_length=2000)
    product_knowledge: str | None = Field(None, max_length=20000)


class PromptConfig(PromptFields):
    """The full prompt an assistant runs with; one of these per version."""

    personality_prompt: str = Field(min_length=1, max_length=PROMPT_TEXT_MAX)
    safety_guidelines: list[str] = Field(default_factory=list, max_length=50)
    forbidden_topics: list[str] = Field(default_factory=list, max_length=100)
