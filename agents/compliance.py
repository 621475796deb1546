"""The Compliance agent: China's Advertising Law and the medical-aesthetics advertising guide applied to text.

Output direction (assistant replies, brand copy) runs the advertising packs and, when something is found,
returns the text with the offending phrases softened or removed; the rewrite is re-checked until it passes.
Input direction (customer messages) screens for prompt injection, self-harm, illegal requests and abuse,
and gives a canned ``safe_reply`` when the message is blocked. No LLM and no I/O after loading: the rules
live in ``configs/compliance/*.yaml`` (see ``agents.compliance_rules``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.compliance_brand import BrandRules
from agents.compliance_rules import (
    DROP_CLAUSE,
    DROP_SENTENCE,
    Channel,
    Direction,
    Hit,
    RuleBook,
    Segments,
    Severity,
    load_rule_book,
)
from agents.offload import off_the_loop
from telemetry import metrics
from telemetry.metrics import record

__all__ = ["BrandRules", "Channel", "ComplianceAgent", "ComplianceInput", "ComplianceRequest", "ComplianceResult", "Direction",
           "SecondOpinionReport", "Severity", "Span", "Violation", "drop_sentences"]

MAX_TEXT_CHARS = 20000
# Re-checks of a rewrite before giving up on it: each one drops the sentences still objected to, and a hostile
# text could otherwise make every round uncover a new violation (the labelled sets never need more than one).
MAX_RECHECKS = 3

_COMMAS = "，,"
_TERMINATORS = "。！!？?"
_SAME_REPLACEMENT_GAP = re.compile(r"(?:[、，,\s]|和|与|及|也|还|而且|并且)*")
# Unbounded, but each repeat can start only where its run starts (an anchor or a lookbehind), so linear.
_TIDY = (
    (re.compile(r"^[\s，,、；;：:。！!？?]+"), ""),                   # text starting with punctuation
    (re.compile(r"(?<=\n)[ \t]*[，,、；;：:。！!？?]+"), ""),          # line starting with punctuation
    (re.compile(r"(?<![，,、；;：:])[，,、；;：:]+(?=[。！!？?]|$)"), ""),  # comma left before a full stop or at the end
    (re.compile(r"([，,、；;：:])[，,、；;：:]+"), r"\1"),             # doubled commas
    (re.compile(r"(?<=[。！!？?])。+"), ""),                          # doubled full stops
    (re.compile(r"（\s*）|\(\s*\)|“\s*”|「\s*」"), ""),              # emptied brackets and quotes
)


class Span(BaseModel):
    """Character offsets into the checked text: ``text[start:end] == span.text``."""

    start: int
    end: int
    text: str


class Violation(BaseModel):
    rule_id: str
    category: str
    severity: Severity
    span: Span
    message: str
    suggestion: str


class ComplianceRequest(BaseModel):
    """What ``POST /v1/compliance/check`` accepts: the tenant's own rules are added by the service, not the client."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    channel: Channel = "chat"
    direction: Direction = "output"


class ComplianceInput(ComplianceRequest):
    brand: BrandRules | None = Field(default=None, description="The tenant's active rules, applied on top of the packs.")


class SecondOpinionReport(BaseModel):
    """The LLM's judgement of a text the rules approved (``agents.compliance_review``)."""

    status: Literal["reviewed", "over_budget", "failed"] = Field(
        description="reviewed; over_budget: the tenant's daily budget is spent; failed: the model could not be asked.")
    agrees: bool = Field(description="The model found nothing the rules missed (true unless reviewed with findings).")
    model: str | None = None
    cost_usd: float = 0.0
    cached: bool = Field(default=False, description="The same text was judged before: no model call, no cost.")
    violations: list[Violation] = Field(default=[], description="What the model found, each quote located in the text.")
    error: str | None = None


class ComplianceResult(BaseModel):
    verdict: Literal["approved", "flagged", "blocked"]
    violations: list[Violation] = []
    rewritten: str | None = None  # output with violations: softened text that passes (may be "" if nothing clean is left)
    safe_reply: str | None = None  # input, blocked: what the assistant answers instead
    second_opinion: SecondOpinionReport | None = Field(
        default=None, description="ad and social output, when the tenant switched the LLM's second opinion on.")


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


class ComplianceAgent:
    def __init__(self, book: RuleBook) -> None:
        self._book = book

    @classmethod
    def load(cls, directory: Path) -> ComplianceAgent:
        """The packs of ``directory`` (the config dir's ``compliance``), compiled once per directory and file version."""
        resolved = directory.resolve()
        return cls(_compiled(str(resolved), _version(resolved)))

    async def check(self, request: ComplianceInput) -> ComplianceResult:
        result = await off_the_loop(len(request.text), self.check_text, request.text, request.channel, request.direction,
                                    request.brand)
        _count(result, request)
        return result

    def approves(self, text: str, channel: Channel = "chat") -> bool:
        """Whether a reply may say ``text`` as it is (no output rule objects to it)."""
        return not self._book.find(text, channel, "output")

    @property
    def categories(self) -> dict[str, str]:
        """The categories the packs declare, in their order: id → description."""
        return {category.id: category.description for category in self._book.categories.values()}

    def spelling(self, word: str) -> str:
        """How the rules match ``word`` (a brand's term): words with the same spelling are the same word to them."""
        return self._book.language.normaliser.fold(word)

    def check_text(self, text: str, channel: Channel = "chat", direction: Direction = "output",
                   brand: BrandRules | None = None) -> ComplianceResult:
        hits = self._book.find(text, channel, direction, brand)
        if not hits:
            return ComplianceResult(verdict="approved")
        violations = [_violation(hit, text) for hit in hits]
        verdict = "blocked" if any(v.severity == "high" for v in violations) else "flagged"
        if direction == "output":
            return ComplianceResult(verdict=verdict, violations=violations, rewritten=self._rewrite(text, hits, channel, brand))
        safe_reply = self._safe_reply(hits) if verdict == "blocked" else None
        return ComplianceResult(verdict=verdict, violations=violations, safe_reply=safe_reply)

    def _rewrite(self, text: str, hits: list[Hit], channel: Channel, brand: BrandRules | None) -> str:
        """Apply each rule's rewrite, then drop any sentence the re-check still objects to; "" when
        ``MAX_RECHECKS`` rounds of that leave a violation."""
        segments = Segments(text)
        current = _apply(text, [_edit(hit, segments) for hit in hits])
        for _ in range(MAX_RECHECKS):
            remaining = self._book.find(current, channel, "output", brand)
            if not remaining:
                return current
            current = drop_sentences(current, [(hit.start, hit.end) for hit in remaining])
        return "" if self._book.find(current, channel, "output", brand) else current

    def _safe_reply(self, hits: list[Hit]) -> str | None:
        """The reply of the first blocking category, in the order the packs declare categories."""
        blocking = {hit.rule.category for hit in hits if hit.rule.severity == "high"}
        return next((c.safe_reply for c in self._book.categories.values() if c.id in blocking and c.safe_reply), None)


@lru_cache(maxsize=16)
def _compiled(directory: str, version: tuple[tuple[str, int, int], ...]) -> RuleBook:
    return load_rule_book(Path(directory))


def _version(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, mtimes and sizes of the packs: an edited pack is recompiled on the next load."""
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(directory.glob("*.yaml")))


def _count(result: ComplianceResult, request: ComplianceInput) -> None:
    where = {"direction": request.direction, "channel": request.channel}
    record(metrics.COMPLIANCE_VERDICTS, verdict=result.verdict, **where)
    for violation in result.violations:
        record(metrics.COMPLIANCE_VIOLATIONS, category=violation.category, **where)


def _violation(hit: Hit, text: str) -> Violation:
    rule = hit.rule
    return Violation(rule_id=rule.id, category=rule.category, severity=rule.severity,
                     span=Span(start=hit.start, end=hit.end, text=text[hit.start:hit.end]),
                     message=rule.message, suggestion=rule.suggestion)


# ------------------------------------------------------------------ rewriting

def _edit(hit: Hit, segments: Segments) -> _Edit:
    if hit.rule.rewrite == DROP_SENTENCE:
        return _drop_sentence(segments, hit.start, hit.end)
    if hit.rule.rewrite == DROP_CLAUSE:
        return _drop_clause(segments, hit.start, hit.end)
    return _Edit(hit.start, hit.end, hit.rule.replacement(hit.match))


def _drop_sentence(segments: Segments, start: int, end: int) -> _Edit:
    first, last = segments.sentence(start, end)
    return _Edit(first, last + _closing_break(segments.text, last), "")


def _drop_clause(segments: Segments, start: int, end: int) -> _Edit:
    """Remove the clause with its comma; a sentence's last clause gives up the comma before it and keeps the full stop."""
    text = segments.text
    first, last = segments.clause(start, end)
    if text[last:last + 1] and text[last] in _COMMAS:
        return _Edit(first, last + 1, "")
    if first > 0 and text[first - 1] in _COMMAS:
        return _Edit(first - 1, last, "")
    return _Edit(first, last + _closing_break(text, last), "")


def _closing_break(text: str, index: int) -> int:
    """1 when a sentence break other than a newline sits at ``index`` (removed with the sentence)."""
    return 1 if index < len(text) and text[index] != "\n" else 0


def drop_sentences(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` without the sentences holding ``spans``, tidied."""
    segments = Segments(text)
    return _apply(text, [_drop_sentence(segments, start, end) for start, end in spans])


def _apply(text: str, edits: list[_Edit]) -> str:
    pieces, cursor = [], 0
    for edit in _merge(edits, text):
        pieces += [text[cursor:edit.start], edit.text]
        cursor = edit.end
    pieces.append(text[cursor:])
    return _tidy("".join(pieces), text)


def _merge(edits: list[_Edit], text: str) -> list[_Edit]:
    """Non-overlapping edits: deletions absorb what they overlap; "零风险、无副作用" gets its shared replacement once;
    back-to-back replacements are kept apart by a comma."""
    merged: list[_Edit] = []
    for edit in sorted(edits, key=lambda e: (e.start, -e.end)):
        last = merged[-1] if merged else None
        if last and edit.start < last.end:
            if not (last.text and edit.text):
                merged[-1] = _Edit(last.start, max(last.end, edit.end), "")
        elif last and edit.text and edit.text == last.text and _SAME_REPLACEMENT_GAP.fullmatch(text, last.end, edit.start):
            merged[-1] = _Edit(last.start, edit.end, last.text)
        elif last and last.text and edit.text and edit.start == last.end:
            merged[-1] = _Edit(last.start, edit.end, f"{last.text}，{edit.text}")  # "零风险零恢复期"
        else:
            merged.append(edit)
    return merged


def _tidy(text: str, original: str) -> str:
    for pattern, replacement in _TIDY:
        text = pattern.sub(replacement, text)
    text = text.strip()
    ending = original.rstrip()[-1:]
    if text and ending in _TERMINATORS and text[-1] not in _TERMINATORS:
        text += ending
    return text
