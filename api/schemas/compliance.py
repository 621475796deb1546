"""Request/response models of a tenant's own compliance rules (``/v1/compliance/rules``); the rules themselves are
``agents.compliance_brand``'s, where the Compliance agent reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from agents.compliance_brand import MAX_TERMS, BrandRules, BrandTerm, SecondOpinion, Term
from api.schemas.common import MAX_INT32, JsonInteger, StrictModel
from store.models import ComplianceRuleVersion

NOTE_MAX = 500
Version = Annotated[int, Field(ge=1, le=MAX_INT32), JsonInteger()]


class BrandTermBody(StrictModel, BrandTerm):
    """A forbidden word as a client sends it (values of another JSON type are refused, not coerced)."""


class SecondOpinionBody(StrictModel, SecondOpinion):
    pass


class ComplianceRulesUpdate(StrictModel):
    """The whole set of rules: what is not sent is not kept (nothing is merged into the active version)."""

    forbidden: list[BrandTermBody] = Field(max_length=MAX_TERMS, description="Words the brand may not publish.")
    allowed: list[Term] = Field(max_length=MAX_TERMS, description="Words the packs must not flag (a trade name containing 第一).")
    second_opinion: SecondOpinionBody | None = Field(None, description="Omitted: off.")
    note: str | None = Field(None, max_length=NOTE_MAX, description="Why this version (kept in the history).")
    base_version: Annotated[int, Field(ge=0, le=MAX_INT32), JsonInteger()] | None = Field(
        None, description="The version this edit was made on (0: none); 409 COMPLIANCE_RULES_VERSION_CONFLICT if another "
                          "is the latest now.")

    def rules(self) -> BrandRules:
        return BrandRules.model_validate(self.model_dump(include={"forbidden", "allowed", "second_opinion"}, exclude_none=True))


class ComplianceRulesRollback(StrictModel):
    version: Version


class ComplianceRulesOut(BaseModel):
    version: int = Field(description="1, 2, 3… per tenant; 0: the tenant has set none.")
    is_active: bool
    forbidden: list[BrandTerm]
    allowed: list[str]
    second_opinion: SecondOpinion
    note: str | None
    created_by: str | None = Field(description="The app key id of the caller who wrote this version.")
    created_at: datetime | None

    @classmethod
    def of(cls, row: ComplianceRuleVersion | None) -> ComplianceRulesOut:
        """A stored version; version 0 with no words when there is none."""
        if row is None:
            return cls(version=0, is_active=False, forbidden=[], allowed=[], second_opinion=SecondOpinion(), note=None,
                       created_by=None, created_at=None)
        rules = BrandRules.model_validate(row.rules)
        return cls(version=row.version, is_active=row.is_active, forbidden=list(rules.forbidden), allowed=list(rules.allowed),
                   second_opinion=rules.second_opinion, note=row.note, created_by=row.created_by, created_at=row.created_at)


class ComplianceRulesHistory(BaseModel):
    versions: list[ComplianceRulesOut] = Field(description="Newest first.")
