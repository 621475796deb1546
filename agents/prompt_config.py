"""An assistant's prompt config: what one prompt version tells the Sales agent (persona, scripts, rules, model).

Defined here, where it is read (``agents.sales``), and served as it is by the prompt API
(``api/schemas/prompts.py``), so it validates like every request model there: unknown keys and
values of another JSON type are refused.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from agents.bounds import JSON_INT, StrictInput

PROMPT_TEXT_MAX = 8000


class LLMParameters(StrictInput):
    model: str | None = Field(None, max_length=100)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: Annotated[int, Field(ge=1, le=32000), JSON_INT] | None = None


class PromptFields(StrictInput):
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
