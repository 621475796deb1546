"""A tenant's own compliance rules: their versions as brands edit them (``/v1/compliance/rules``), and the active one
as every compliance check of the tenant's text carries it (``ComplianceInput.brand``), reused for
``MAS_COMPLIANCE_RULES_TTL_SECONDS`` per replica so that a turn costs no query for it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agents.compliance import ComplianceAgent
from agents.compliance_brand import BRAND_CATEGORY, BrandRules
from runs.errors import ServiceError
from store.compliance_rules import ComplianceRuleStore
from store.models import ComplianceRuleVersion
from store.versions import VersionConflict

RULE_FIELDS = frozenset({"forbidden", "allowed", "second_opinion"})


def brand_rules(tenant_id: str, row: ComplianceRuleVersion | None) -> BrandRules:
    """The rules of a stored version; version 0 and no words when the tenant has none."""
    if row is None:
        return BrandRules(tenant_id=tenant_id)
    return BrandRules(tenant_id=tenant_id, version=row.version, **row.rules)


class ComplianceRules:
    def __init__(self, store: ComplianceRuleStore, ttl_seconds: float, packs: Callable[[], ComplianceAgent]) -> None:
        """``packs``: the Compliance agent this replica reads: the categories a forbidden word may name (or
        ``brand_rule``), and the spelling by which two words are the same word to the rules."""
        self._store, self._ttl_s, self._packs = store, ttl_seconds, packs
        self._active: dict[str, tuple[float, BrandRules]] = {}

    async def active(self, tenant_id: str) -> BrandRules:
        """The tenant's active rules, re-read at most every ``ttl_seconds`` (an edit here is seen at once)."""
        cached = self._active.get(tenant_id)
        if cached is not None and time.monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        rules = brand_rules(tenant_id, await self._store.active(tenant_id))
        self._active[tenant_id] = (time.monotonic(), rules)
        return rules

    async def current(self, tenant_id: str) -> ComplianceRuleVersion | None:
        return await self._store.active(tenant_id)

    async def version(self, tenant_id: str, version: int) -> ComplianceRuleVersion:
        """404 COMPLIANCE_RULES_VERSION_NOT_FOUND when the tenant has no such version."""
        row = await self._store.version(tenant_id, version)
        if row is None:
            raise ServiceError(404, "COMPLIANCE_RULES_VERSION_NOT_FOUND", f"compliance rules v{version} not found")
        return row

    async def history(self, tenant_id: str, limit: int) -> list[ComplianceRuleVersion]:
        return await self._store.history(tenant_id, limit)

    async def replace(self, tenant_id: str, rules: BrandRules, note: str | None, created_by: str,
                      base_version: int | None = None) -> ComplianceRuleVersion:
        """``rules`` (forbidden, allowed, second_opinion: the whole set, nothing merged) as the tenant's new active
        version. 400 INVALID_COMPLIANCE_RULES when they break a rule; 409 COMPLIANCE_RULES_VERSION_CONFLICT when
        ``base_version`` (0: none yet) is no longer the latest."""
        self._check(rules)
        try:
            row = await self._store.add_version(tenant_id, _stored(rules), note, created_by, base_version)
        except VersionConflict as conflict:
            raise ServiceError(409, "COMPLIANCE_RULES_VERSION_CONFLICT",
                               f"the edit was made on v{base_version} but v{conflict.latest} is the latest: reload and apply it again",
                               {"base_version": base_version, "latest_version": conflict.latest}) from None
        self._active.pop(tenant_id, None)
        return row

    async def rollback(self, tenant_id: str, version: int, created_by: str) -> ComplianceRuleVersion:
        """Version ``version``'s rules again, as a new active version (the history stays whole)."""
        target = await self.version(tenant_id, version)
        return await self.replace(tenant_id, brand_rules(tenant_id, target), f"rollback to v{version}", created_by)

    def _check(self, rules: BrandRules) -> None:
        """What the model alone cannot refuse: categories the packs do not declare, a word twice, a word both
        forbidden and allowed."""
        packs = self._packs()
        known = {BRAND_CATEGORY, *packs.categories}
        issues: list[dict[str, Any]] = []

        def issue(loc: list[str | int], code: str, message: str) -> None:
            issues.append({"loc": loc, "code": code, "message": message})

        allowed: dict[str, int] = {}
        for index, term in enumerate(rules.allowed):
            key = packs.spelling(term)
            if key in allowed:
                issue(["allowed", index], "duplicate_term", f"「{term}」 is allowed twice (as allowed[{allowed[key]}])")
            allowed.setdefault(key, index)
        forbidden: dict[str, int] = {}
        for index, entry in enumerate(rules.forbidden):
            key = packs.spelling(entry.term)
            if entry.category not in known:
                issue(["forbidden", index, "category"], "unknown_category", f"category '{entry.category}' is not "
                      f"{BRAND_CATEGORY} or one the packs declare")
            if key in forbidden:
                issue(["forbidden", index, "term"], "duplicate_term",
                      f"「{entry.term}」 is forbidden twice (as forbidden[{forbidden[key]}])")
            if key in allowed:
                issue(["forbidden", index, "term"], "term_also_allowed",
                      f"「{entry.term}」 is both forbidden and allowed (allowed[{allowed[key]}])")
            forbidden.setdefault(key, index)
        if issues:
            raise ServiceError(400, "INVALID_COMPLIANCE_RULES", "the compliance rules break "
                               f"{len(issues)} rule{'s' if len(issues) > 1 else ''}: {issues[0]['message']}",
                               {"issues": issues[:100], "categories": sorted(known)})


def _stored(rules: BrandRules) -> dict[str, Any]:
    return rules.model_dump(mode="json", include=set(RULE_FIELDS))
