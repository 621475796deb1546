"""Output compliance in front of every text an agent hands to a customer or a brand to publish: a text comes back
only as a version the Compliance agent approved (the original, or its rewrite), or not at all."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from agents.compliance import Channel, ComplianceInput, ComplianceResult, Violation
from agents.compliance_brand import BrandRules

# A rewrite that shaping changed again is checked again; a hostile text could make every round uncover something new.
MAX_ROUNDS = 3


class AgentUnavailable(Exception):
    """A required agent (input compliance, output compliance) failed: the run fails with 503."""

    def __init__(self, agent: str, reason: str) -> None:
        super().__init__(agent, reason)
        self.agent, self.reason = agent, reason

    def __str__(self) -> str:
        return f"the {self.agent} agent is unavailable: {self.reason}"


class ComplianceService(Protocol):
    async def check(self, request: ComplianceInput) -> ComplianceResult: ...


def _unchanged(text: str) -> str:
    return text


class OutputGuard:
    """Checks texts; keeps what passed, or its rewrite, and what was found (for a regeneration's feedback).

    ``brand``: the rules of the tenant whose text it is, applied on top of the packs in every check."""

    def __init__(self, compliance: ComplianceService, channel: Channel, brand: BrandRules | None = None) -> None:
        self._compliance = compliance
        self._channel = channel
        self._brand = brand
        self.violations: list[Violation] = []
        self.checks = 0
        self.elapsed_ms = 0.0

    async def clean(self, text: str, shape: Callable[[str], str] = _unchanged, keep_at_least: float = 0.0) -> str:
        """``text`` shaped (say, to a platform's style) and approved, or its approved rewrite; "" when nothing usable is
        left, or when the rewrite kept less than ``keep_at_least`` of the shaped text's length (too little to stand for
        it). Blank text is returned as it is. A rewrite comes back checked from the Compliance agent; only one that
        ``shape`` changes is checked again."""
        text = shape(text)
        least = len(text.strip()) * keep_at_least
        for _ in range(MAX_ROUNDS):
            if not text.strip():
                return text
            if len(text.strip()) < least:
                return ""
            verdict = await self._check(text)
            if verdict.verdict == "approved":
                return text
            self.violations.extend(verdict.violations)
            rewritten = verdict.rewritten or ""
            text = shape(rewritten)
            if text == rewritten:
                return "" if text.strip() and len(text.strip()) < least else text
        return ""

    async def _check(self, text: str) -> ComplianceResult:
        started = time.perf_counter()
        try:
            verdict = await self._compliance.check(ComplianceInput(text=text, channel=self._channel, direction="output",
                                                                    brand=self._brand))
        except Exception as exc:
            raise AgentUnavailable("compliance", f"{type(exc).__name__}: {exc}") from exc
        self.checks += 1
        self.elapsed_ms += (time.perf_counter() - started) * 1000
        return verdict

    def feedback(self) -> list[str]:
        """The violations found so far, as a regeneration's instructions."""
        return [f"「{v.span.text}」：{v.message}（{v.suggestion}）" for v in self.violations]
