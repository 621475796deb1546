"""Compliance rule packs: YAML files of regex rules, validated and compiled once, and the matcher that runs them.

The packs (``configs/compliance/*.yaml``) are data: categories, rules, negation lexicons and the
customer-speech spans live there, so adding a rule or a category needs no code. See ``advertising.yaml``
for the rule format.

Matching must stay linear in the text: a message of 20,000 characters goes through every rule on every turn, and
Python's backtracking engine is quadratic on an unbounded repeat tried at every start ("\\d+" on a run of digits).
So every repeat in a pack is bounded (checked when the packs load) and the post-processing of hits is O(n log n).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.compliance_brand import BrandRules, BrandTerm
from agents.compliance_normalise import Normaliser
from agents.regex_safety import gated, reach, starting_characters, superlinear

Channel = Literal["chat", "social", "ad"]
Direction = Literal["input", "output"]
Severity = Literal["low", "medium", "high"]

CHANNELS: tuple[Channel, ...] = ("chat", "social", "ad")
DIRECTIONS: tuple[Direction, ...] = ("input", "output")
DROP_CLAUSE = "drop_clause"
DROP_SENTENCE = "drop_sentence"

_CLAUSE_BREAK = re.compile(r"[，,。；;！!？?\n]")
_SENTENCE_BREAK = re.compile(r"[。；;！!？?\n]")
_MACRO = re.compile(r"\{\{(\w+)\}\}")
_GROUP_REF = re.compile(r"\\g<(\w+)>")


# ------------------------------------------------------------------ YAML schema

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CategorySpec(_Strict):
    description: str = Field(min_length=1)
    safe_reply: str | None = Field(default=None, min_length=1)


class NegationSpec(_Strict):
    window: int = Field(default=12, ge=1, le=60)
    before: list[str] = []
    after: list[str] = []


class NormaliseSpec(_Strict):
    symbols: dict[str, list[str]] = {}
    pinyin: dict[str, list[str]] = {}
    slang: dict[str, list[str]] = {}


class LanguageSpec(_Strict):
    negation: NegationSpec = NegationSpec()
    macros: dict[str, str] = {}
    customer_speech: list[str] = []
    normalise: NormaliseSpec = NormaliseSpec()


class RuleSpec(_Strict):
    id: str = Field(min_length=1)
    category: str
    severity: Severity
    directions: list[Direction] = Field(default=["output"], min_length=1)
    channels: list[Channel] = Field(default=list(CHANNELS), min_length=1)
    patterns: list[str] = Field(min_length=1)
    excludes: list[str] = []
    negation: bool = True
    message: str = Field(min_length=1)
    suggestion: str = Field(min_length=1)
    rewrite: str = DROP_SENTENCE


class PackSpec(_Strict):
    pack: str | None = None
    description: str | None = None
    language: LanguageSpec | None = None
    categories: dict[str, CategorySpec] = {}
    defaults: dict[str, Any] = {}
    rules: list[dict[str, Any]] = []


# ------------------------------------------------------------------ compiled form

@dataclass(frozen=True)
class Category:
    id: str
    description: str
    safe_reply: str | None


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    severity: Severity
    directions: frozenset[str]
    channels: frozenset[str]
    patterns: tuple[re.Pattern[str], ...]
    gates: tuple[frozenset[str] | None, ...]  # per pattern: the characters its matches start with (None: unknown)
    excludes: tuple[re.Pattern[str], ...]
    reach: int  # how far from its start an exclude's match can read: excludes are searched that close to a hit
    negation: bool
    message: str
    suggestion: str
    rewrite: str

    def replacement(self, match: re.Match[str]) -> str:
        """The rewrite text for one match, named groups (``\\g<name>``) filled in."""
        return _GROUP_REF.sub(lambda ref: (match.group(ref.group(1)) or "") if ref.group(1) in match.re.groupindex
                              else ref.group(0), self.rewrite)


@dataclass(frozen=True)
class Language:
    negators: re.Pattern[str] | None
    refutations: re.Pattern[str] | None
    window: int
    customer_speech: re.Pattern[str] | None
    normaliser: Normaliser


@dataclass(frozen=True)
class Hit:
    rule: Rule
    start: int
    end: int
    match: re.Match[str]


class Segments:
    """Clause and sentence boundaries of one text, for negation windows, excludes and rewrites."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._clause_breaks = [m.start() for m in _CLAUSE_BREAK.finditer(text)]
        self._sentence_breaks = [m.start() for m in _SENTENCE_BREAK.finditer(text)]

    def clause(self, start: int, end: int | None = None) -> tuple[int, int]:
        """(first char, index of the closing break or len) of the clause(s) holding text[start:end]."""
        return _bounds(self._clause_breaks, start, start if end is None else end, len(self.text))

    def sentence(self, start: int, end: int | None = None) -> tuple[int, int]:
        return _bounds(self._sentence_breaks, start, start if end is None else end, len(self.text))


def _bounds(breaks: list[int], start: int, end: int, length: int) -> tuple[int, int]:
    before, after = bisect.bisect_left(breaks, start), bisect.bisect_left(breaks, end)
    return (breaks[before - 1] + 1 if before else 0), (breaks[after] if after < len(breaks) else length)


class RuleBook:
    """Every rule of a pack directory, indexed by (channel, direction)."""

    def __init__(self, rules: tuple[Rule, ...], categories: dict[str, Category], language: Language) -> None:
        self.rules = rules
        self.categories = categories
        self.language = language
        self._index = {(c, d): tuple(r for r in rules if c in r.channels and d in r.directions)
                       for c in CHANNELS for d in DIRECTIONS}

    def find(self, text: str, channel: Channel, direction: Direction, brand: BrandRules | None = None) -> list[Hit]:
        """Every rule match that context does not cancel, overlapping matches of one category kept once, with spans
        in ``text``. The rules read the normalised text (``agents.compliance_normalise``); on output, the brand's
        forbidden words count as rules and its allowed words cancel what they overlap."""
        rules = self._index.get((channel, direction))
        if rules is None:
            raise ValueError(f"unknown channel {channel!r} or direction {direction!r}")
        normalised = self.language.normaliser(text)
        plain = normalised.text
        own = self._brand(brand) if brand is not None and direction == "output" else None
        present = frozenset(plain.lower())
        candidates = [hit for rule in rules for hit in self._matches(rule, plain, present)]
        if own is not None:
            candidates += own.find(plain)
        if not candidates:
            return []
        segments = Segments(plain)
        speech = self._customer_speech(plain) if direction == "output" else ([], [])
        kept = [hit for hit in candidates if not self._cancelled(hit, segments, speech)]
        if own is not None and own.allowed is not None:
            kept = _outside(kept, [m.span() for m in own.allowed.finditer(plain)])
        return [Hit(hit.rule, *normalised.span(hit.start, hit.end), hit.match) for hit in _one_per_overlap(kept)]

    def _brand(self, brand: BrandRules) -> BrandBook:
        return _brand_book(self.language.normaliser, brand.forbidden, brand.allowed)

    @staticmethod
    def _matches(rule: Rule, text: str, present: frozenset[str]) -> Iterator[Hit]:
        """The rule's matches; a pattern none of whose starting characters is ``present`` in the text is skipped."""
        for pattern, gate in zip(rule.patterns, rule.gates):
            if gate is not None and gate.isdisjoint(present):
                continue
            for m in pattern.finditer(text):
                if m.end() > m.start():
                    yield Hit(rule, m.start(), m.end(), m)

    def _customer_speech(self, text: str) -> tuple[list[int], list[int]]:
        """Starts and ends of the customer-speech spans, in text order (they don't overlap)."""
        spans = [m.span() for m in self.language.customer_speech.finditer(text)] if self.language.customer_speech else []
        return [start for start, _ in spans], [end for _, end in spans]

    def _cancelled(self, hit: Hit, segments: Segments, speech: tuple[list[int], list[int]]) -> bool:
        """Customer speech holds the hit's start, an exclude overlaps it, or a negator refutes it. Each test reads
        a bounded window around the hit (of the speech spans, only the last one starting before it can hold it),
        so a text with a hit every few characters costs O(n log n), not O(hits x clause)."""
        text, rule = segments.text, hit.rule
        starts, ends = speech
        before = bisect.bisect_right(starts, hit.start)
        if before and hit.start < ends[before - 1]:
            return True
        if rule.excludes:
            clause_start, clause_end = segments.clause(hit.start, hit.end)
            window = max(clause_start, hit.start - rule.reach), min(clause_end, hit.end + rule.reach)
            if any(m.start() < hit.end and hit.start < m.end() for pattern in rule.excludes for m in pattern.finditer(text, *window)):
                return True
        return rule.negation and self._negated(hit, segments)

    def _negated(self, hit: Hit, segments: Segments) -> bool:
        """A negator shortly before the claim (the ``claim`` group when the pattern names one, else the whole
        match), in the claim's clause, or a refutation right after the match."""
        text, language = segments.text, self.language
        claim = hit.match.start("claim") if "claim" in hit.match.re.groupindex and hit.match.group("claim") else hit.start
        clause_start, clause_end = segments.clause(claim, hit.end)
        if language.negators:
            window_start = max(clause_start, claim - language.window)
            if any(m.start() < claim for m in language.negators.finditer(text, window_start, hit.end)):
                return True
        if language.refutations:
            return bool(language.refutations.match(text, hit.end, min(clause_end, hit.end + language.window)))
        return False


def _one_per_overlap(hits: list[Hit]) -> list[Hit]:
    """Earliest, then longest, match wins where matches of the same category overlap.

    Hits come in start order, so a hit overlaps a kept one of its category exactly when that category's
    furthest kept end lies past its start: one comparison per hit instead of one per kept hit."""
    kept: list[Hit] = []
    reached: dict[str, int] = {}
    for hit in sorted(hits, key=lambda h: (h.start, h.start - h.end)):
        if reached.get(hit.rule.category, -1) <= hit.start:
            kept.append(hit)
            reached[hit.rule.category] = hit.end
    return kept


def _outside(hits: list[Hit], allowed: list[tuple[int, int]]) -> list[Hit]:
    """The hits that overlap none of the ``allowed`` spans (in text order, not overlapping each other)."""
    if not allowed:
        return hits
    ends = [end for _, end in allowed]
    kept = []
    for hit in hits:
        i = bisect.bisect_right(ends, hit.start)  # the first allowed span ending after the hit starts
        if i == len(allowed) or allowed[i][0] >= hit.end:
            kept.append(hit)
    return kept


# ------------------------------------------------------------------ a brand's own rules

@dataclass(frozen=True)
class BrandBook:
    """A brand's forbidden words as one alternation (one pass over the text however many there are), each spelling
    mapped to its rule; its allowed words as another."""

    forbidden: re.Pattern[str] | None
    rules: dict[str, Rule]  # normalised, lower-cased spelling → its rule
    allowed: re.Pattern[str] | None

    def find(self, text: str) -> list[Hit]:
        if self.forbidden is None:
            return []
        return [Hit(self.rules[m.group().lower()], m.start(), m.end(), m) for m in self.forbidden.finditer(text)]


@lru_cache(maxsize=256)
def _brand_book(normaliser: Normaliser, forbidden: tuple[BrandTerm, ...], allowed: tuple[str, ...]) -> BrandBook:
    """A brand's terms compiled once per version: each forbidden word a rule over its normalised spelling, so "美 白"
    or a traditional spelling is caught like the word itself."""
    rules = {spelling: _brand_rule(term) for term in forbidden if (spelling := normaliser.fold(term.term))}
    return BrandBook(_alternation(rules), rules, _alternation({normaliser.fold(word) for word in allowed} - {""}))


def _alternation(words: Collection[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern matching any of ``words``, the longest first where they overlap."""
    if not words:
        return None
    return gated(re.compile("|".join(map(re.escape, sorted(words, key=len, reverse=True))), re.IGNORECASE))


def _brand_rule(term: BrandTerm) -> Rule:
    return Rule(id=f"brand.{term.term}", category=term.category, severity=term.severity,
                directions=frozenset({"output"}), channels=frozenset(CHANNELS), patterns=(), gates=(), excludes=(), reach=0,
                negation=True,
                message=term.message or f"品牌禁用词「{term.term}」（品牌自定义规则）。",
                suggestion="删除该词，或按品牌规范改写。" if term.replacement is None else f"改为「{term.replacement}」。",
                rewrite=DROP_CLAUSE if term.replacement is None else term.replacement)


# ------------------------------------------------------------------ loading

def load_rule_book(directory: Path) -> RuleBook:
    """Parse, validate and compile every ``*.yaml`` pack of ``directory``; errors name the file and the rule."""
    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise ValueError(f"{directory}: no compliance rule packs (*.yaml)")
    packs = [(path, _read_pack(path)) for path in files]
    language_spec = _single_language(packs)
    macros = language_spec.macros
    for name, macro in macros.items():
        _compile(macro, {}, f"{_language_file(packs).name}: macro {name!r}")
    language = _compile_language(language_spec, _language_file(packs), macros)
    categories = _collect_categories(packs)
    rules: list[Rule] = []
    for path, pack in packs:
        for raw in pack.rules:
            rules.append(_compile_rule(path, {**pack.defaults, **raw}, categories, macros))
    _check_unique_ids(packs, rules)
    book = RuleBook(tuple(rules), categories, language)
    _check_rules_against_book(packs, book)
    return book


def _read_pack(path: Path) -> PackSpec:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return PackSpec.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ValueError(f"{path.name}: invalid compliance rule pack: {exc}") from exc


def _single_language(packs: list[tuple[Path, PackSpec]]) -> LanguageSpec:
    found = [pack.language for _, pack in packs if pack.language is not None]
    if len(found) > 1:
        raise ValueError(f"{', '.join(p.name for p, pack in packs if pack.language)}: only one pack may define `language`")
    return found[0] if found else LanguageSpec()


def _language_file(packs: list[tuple[Path, PackSpec]]) -> Path:
    return next((path for path, pack in packs if pack.language is not None), packs[0][0])


def _compile_language(spec: LanguageSpec, path: Path, macros: dict[str, str]) -> Language:
    def joined(patterns: list[str], what: str) -> re.Pattern[str] | None:
        return _compile("|".join(f"(?:{p})" for p in patterns), macros, f"{path.name}: language {what}") if patterns else None

    return Language(negators=joined(spec.negation.before, "negation.before"),
                    refutations=joined(spec.negation.after, "negation.after"),
                    window=spec.negation.window,
                    customer_speech=joined(spec.customer_speech, "customer_speech"),
                    normaliser=Normaliser(spec.normalise.symbols, spec.normalise.slang, spec.normalise.pinyin))


def _collect_categories(packs: list[tuple[Path, PackSpec]]) -> dict[str, Category]:
    categories: dict[str, Category] = {}
    for path, pack in packs:
        for category_id, spec in pack.categories.items():
            if category_id in categories:
                raise ValueError(f"{path.name}: category {category_id!r} is declared twice")
            categories[category_id] = Category(category_id, spec.description, spec.safe_reply)
    return categories


def _compile_rule(path: Path, raw: dict[str, Any], categories: dict[str, Category], macros: dict[str, str]) -> Rule:
    where = f"{path.name}: rule {raw.get('id', '<no id>')!r}"
    try:
        spec = RuleSpec.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    if spec.category not in categories:
        raise ValueError(f"{where}: unknown category {spec.category!r} (declared: {', '.join(categories)})")
    patterns = tuple(_compile(p, macros, where) for p in spec.patterns)
    _check_group_refs(spec, patterns, where)
    if spec.severity == "high" and "input" in spec.directions and not categories[spec.category].safe_reply:
        raise ValueError(f"{where}: input rules that block need a safe_reply on category {spec.category!r}")
    excludes = tuple(_compile(p, macros, where) for p in spec.excludes)
    return Rule(id=spec.id, category=spec.category, severity=spec.severity,
                directions=frozenset(spec.directions), channels=frozenset(spec.channels),
                patterns=patterns, gates=tuple(map(starting_characters, patterns)), excludes=excludes, reach=max((reach(p) for p in excludes), default=0),
                negation=spec.negation, message=spec.message, suggestion=spec.suggestion, rewrite=spec.rewrite)


def _compile(pattern: str, macros: dict[str, str], where: str) -> re.Pattern[str]:
    def expand(ref: re.Match[str]) -> str:
        if ref.group(1) not in macros:
            raise ValueError(f"{where}: unknown macro {{{{{ref.group(1)}}}}} in {pattern!r}")
        return macros[ref.group(1)]

    try:
        compiled = re.compile(_MACRO.sub(expand, pattern), re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"{where}: bad regex {pattern!r}: {exc}") from exc
    slow = superlinear(compiled)
    if slow:
        raise ValueError(f"{where}: {slow} in {pattern!r}: matching could take quadratic time on a long text")
    return gated(compiled)


def _check_group_refs(spec: RuleSpec, patterns: tuple[re.Pattern[str], ...], where: str) -> None:
    for name in _GROUP_REF.findall(spec.rewrite):
        if any(name not in p.groupindex for p in patterns):
            raise ValueError(f"{where}: rewrite uses group <{name}> that not every pattern defines")


def _check_unique_ids(packs: list[tuple[Path, PackSpec]], rules: list[Rule]) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            files = [p.name for p, pack in packs if any(r.get("id") == rule.id for r in pack.rules)]
            raise ValueError(f"{', '.join(files)}: rule {rule.id!r}: duplicate rule id")
        seen.add(rule.id)


def _check_rules_against_book(packs: list[tuple[Path, PackSpec]], book: RuleBook) -> None:
    """A fixed replacement text must not itself break a rule, or rewriting could never converge."""
    files = {str(raw.get("id")): path for path, pack in packs for raw in pack.rules}
    for rule in book.rules:
        if "output" not in rule.directions or rule.rewrite in (DROP_CLAUSE, DROP_SENTENCE) or not rule.rewrite:
            continue
        if _GROUP_REF.search(rule.rewrite):
            continue
        for channel in rule.channels:
            broken = book.find(rule.rewrite, channel, "output")
            if broken:
                raise ValueError(f"{files[rule.id].name}: rule {rule.id!r}: rewrite {rule.rewrite!r} itself breaks "
                                 f"rule {broken[0].rule.id!r}")
