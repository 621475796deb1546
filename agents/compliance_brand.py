"""A tenant's own compliance rules, applied on top of the packs: forbidden words, allowed exceptions, and the switch
and budget of the LLM's second opinion.

Brands version them like prompts (``PUT /v1/compliance/rules``); every check of the tenant's text carries the active
version in ``ComplianceInput.brand``. The model is frozen and made of tuples so that a version is hashable: its
compiled matcher is cached by value.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Severity = Literal["low", "medium", "high"]
BRAND_CATEGORY = "brand_rule"
BRAND_CATEGORY_DESCRIPTION = "品牌自定义的禁用词（竞品名、未备案的功效宣称等）"
MAX_TERMS = 500
MAX_TERM_CHARS = 40

Term = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TERM_CHARS)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrandTerm(_Frozen):
    """A word the brand may not publish (a competitor's name, an unregistered claim such as 美白 for a product that
    is not filed as a whitening cosmetic)."""

    term: Term
    category: str = Field(default=BRAND_CATEGORY, pattern=r"^[a-z_]{1,40}$",
                          description="brand_rule, or one of the packs' categories (absolute_terms, …)")
    severity: Severity = "high"
    replacement: Annotated[str, StringConstraints(max_length=MAX_TERM_CHARS)] | None = Field(
        default=None, description="What a rewrite puts instead; none drops the clause.")
    message: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class SecondOpinion(_Frozen):
    """The LLM's judgement of texts the rules approve, on the ``ad`` and ``social`` channels, when a real model is
    routed. ``flag``: a violation it finds (with its span located in the text) flags the text; ``record``: it is only
    reported next to the rules' verdict."""

    enabled: bool = False
    mode: Literal["flag", "record"] = "flag"
    daily_budget_usd: float = Field(default=1.0, ge=0, le=10_000, description="Spend per UTC day; over it the rules alone decide.")


class BrandRules(_Frozen):
    tenant_id: str = Field(default="", max_length=64)
    version: int = Field(default=0, ge=0)
    forbidden: tuple[BrandTerm, ...] = Field(default=(), max_length=MAX_TERMS)
    allowed: tuple[Term, ...] = Field(default=(), max_length=MAX_TERMS,
                                      description="Words the packs must not flag (a trade name containing 第一).")
    second_opinion: SecondOpinion = SecondOpinion()
