"""When a customer's message should hand the thread to a person: the hand-off rules of ``configs/handoff``.

Pure and cheap (a few compiled patterns over the message), so the run executor checks every message before the graph
runs and no LLM is called for a message a person must answer. ``self_harm`` is not matched here: it comes from the
input compliance check, which still sends its caring reply first.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

SELF_HARM = "self_harm"
CATEGORIES = ("self_harm", "human_request", "urgent_complaint", "clinical_diagnosis", "clinical_complication",
              "clinical_medication")
MAX_CHARS = 20_000
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "handoff" / "handoff.yaml"


class HandoffConfig(BaseModel):
    default: list[str]
    tenants: dict[str, list[str]] = Field(default_factory=dict)
    categories: dict[str, list[str]]


@dataclass(frozen=True)
class HandoffRules:
    default: frozenset[str]
    tenants: dict[str, frozenset[str]]
    patterns: dict[str, re.Pattern[str]]

    def enabled(self, tenant_id: str) -> frozenset[str]:
        """The categories that hand off ``tenant_id``'s threads."""
        return self.tenants.get(tenant_id, self.default)

    def reason(self, tenant_id: str, text: str) -> str | None:
        """The first enabled category ``text`` falls under (in the order of CATEGORIES), or None."""
        enabled = self.enabled(tenant_id)
        text = unicodedata.normalize("NFKC", text[:MAX_CHARS])
        return next((name for name, pattern in self.patterns.items() if name in enabled and pattern.search(text)), None)


def parse_rules(config: HandoffConfig, source: str = "handoff rules") -> HandoffRules:
    """Validated and compiled rules; an unknown category or a bad pattern names ``source``."""
    named = {*config.default, *(name for names in config.tenants.values() for name in names), *config.categories}
    if unknown := sorted(named - set(CATEGORIES)):
        raise ValueError(f"{source}: unknown hand-off categories {unknown} (known: {list(CATEGORIES)})")
    patterns = {}
    for name in CATEGORIES:
        if name in config.categories:
            try:
                patterns[name] = re.compile("|".join(f"(?:{p})" for p in config.categories[name]))
            except re.error as exc:
                raise ValueError(f"{source}: category {name!r}: {exc}") from exc
    return HandoffRules(frozenset(config.default), {tenant: frozenset(names) for tenant, names in config.tenants.items()},
                        patterns)


@lru_cache(maxsize=4)
def load_rules(path: Path = DEFAULT_CONFIG) -> HandoffRules:
    return parse_rules(HandoffConfig.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8"))), str(path))
