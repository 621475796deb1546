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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from re import _constants as sre  # the stdlib's parsed form of a regex, read once per pattern (see _gated)
from re import _parser as sre_parse
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Channel = Literal["chat", "social", "ad"]
Direction = Literal["input", "output"]
Severity = Literal["low", "medium", "high"]

CHANNELS: tuple[Channel, ...] = ("chat", "social", "ad")
DIRECTIONS: tuple[Direction, ...] = ("input", "output")
DROP_CLAUSE = "drop_clause"
DROP_SENTENCE = "drop_sentence"

# Full-width letters, digits and signs ("ｖｘ", "９８％", "Ｎｏ．１") folded to ASCII one character for one, so the
# rules match them and spans still index the caller's text.
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_CLAUSE_BREAK = re.compile(r"[，,。；;！!？?\n]")
_SENTENCE_BREAK = re.compile(r"[。；;！!？?\n]")
_MACRO = re.compile(r"\{\{(\w+)\}\}")
MAX_REPEAT = 100  # the largest repeat count a pack may write: a bigger bound is as slow as none on long texts
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


class LanguageSpec(_Strict):
    negation: NegationSpec = NegationSpec()
    macros: dict[str, str] = {}
    customer_speech: list[str] = []


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
    excludes: tuple[re.Pattern[str], ...]
    reach: int  # how far from its start an exclude's match can read: excludes are searched that close to a hit
    negation: bool
    message: str
    suggestion: str
    rewrite: str

    def replacement(self, match: re.Match[str]) -> str:
        """The rewrite text for one match, named groups (``\\g<name>``) filled in."""
        return _GROUP_REF.sub(lambda ref: match.group(ref.group(1)) or "", self.rewrite)


@dataclass(frozen=True)
class Language:
    negators: re.Pattern[str] | None
    refutations: re.Pattern[str] | None
    window: int
    customer_speech: re.Pattern[str] | None


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

    def find(self, text: str, channel: Channel, direction: Direction) -> list[Hit]:
        """Every rule match that context does not cancel; overlapping matches of one category kept once."""
        rules = self._index.get((channel, direction))
        if rules is None:
            raise ValueError(f"unknown channel {channel!r} or direction {direction!r}")
        text = text.translate(_FULLWIDTH)
        candidates = [hit for rule in rules for hit in self._matches(rule, text)]
        if not candidates:
            return []
        segments = Segments(text)
        speech = self._customer_speech(text) if direction == "output" else ([], [])
        return _one_per_overlap([hit for hit in candidates if not self._cancelled(hit, segments, speech)])

    @staticmethod
    def _matches(rule: Rule, text: str) -> Iterator[Hit]:
        for pattern in rule.patterns:
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
                    customer_speech=joined(spec.customer_speech, "customer_speech"))


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
                patterns=patterns, excludes=excludes, reach=max((_reach(p) for p in excludes), default=0),
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
    return _gated(compiled)


_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


def superlinear(pattern: re.Pattern[str]) -> str | None:
    """Why ``pattern`` could take more than linear time to search a long text, or None (the lexicons use it too)."""
    return _slow_repeat(sre_parse.parse(pattern.pattern, pattern.flags))


def _slow_repeat(items: Any) -> str | None:
    """The repeat of the parsed regex ``items`` that makes it super-linear, described, or None.

    Tried at every start of a long run, a repeat costs up to its bound each time: an unbounded one (``\\d+``,
    ``\\s*``, ``{7,}``) makes that the whole run. A repeat of a variable-width item (``(a|ab){0,9}``,
    ``(\\d{1,3}){0,9}``) has as many ways to split the text as the product of the bounds."""
    for op, av in items:
        if op in _REPEATS:
            low, high, body = av
            if high == sre.MAXREPEAT:
                return "an unbounded repeat (+, * or {n,}; write {0,3}, {1,12} …)"
            if high > MAX_REPEAT:
                return f"a repeat of up to {high} (at most {MAX_REPEAT})"
            width = body.getwidth()
            if high > 1 and width[0] != width[1]:
                return f"a repeat of up to {high} of an item of variable width"
        slow = next(filter(None, map(_slow_repeat, _parts(op, av))), None)
        if slow:
            return slow
    return None


def _parts(op: Any, av: Any) -> list[Any]:
    """The parsed sub-sequences of one parsed item."""
    if op in _REPEATS:
        return [av[2]]
    if op is sre.SUBPATTERN:
        return [av[3]]
    if op is sre.BRANCH:
        return list(av[1])
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [av[1]]
    if op is sre.ATOMIC_GROUP:
        return [av]
    if op is sre.GROUPREF_EXISTS:
        return [branch for branch in av[1:] if branch is not None]
    return []


def _reach(pattern: re.Pattern[str]) -> int:
    """How many characters from its start a match of ``pattern`` (bounded) can read: its longest match plus
    whatever its lookarounds read."""
    def lookarounds(items: Any) -> int:
        return sum(av[1].getwidth()[1] if op in (sre.ASSERT, sre.ASSERT_NOT) else 0 for op, av in items) + sum(
            lookarounds(part) for op, av in items for part in _parts(op, av))

    parsed = sre_parse.parse(pattern.pattern, pattern.flags)
    return parsed.getwidth()[1] + lookarounds(parsed)


def _gated(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` behind a lookahead on the characters its matches can start with (same matches, same groups).

    Python's engine skips quickly through text only for patterns that open with a literal; rule patterns mostly
    open with a lexicon or an optional word and would otherwise be tried in full at every character."""
    try:  # private stdlib internals (Python 3.11-3.13): if they change, the rules run ungated, only slower
        first, nullable = _first_characters(sre_parse.parse(pattern.pattern, pattern.flags))
    except Exception:
        return pattern
    if first is None or nullable:
        return pattern
    return re.compile(f"(?=[{''.join(sorted(first))}])(?:{pattern.pattern})", pattern.flags)


_CATEGORIES = {sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_SPACE: r"\s", sre.CATEGORY_WORD: r"\w"}


def _first_characters(items: Any) -> tuple[set[str] | None, bool]:
    """(class fragments a match of the parsed sequence ``items`` can start with, whether it can match empty).

    None for the fragments when any character may start it (``.``, a negated class, a back reference)."""
    first: set[str] = set()
    for op, av in items:
        if op in (sre.ASSERT, sre.ASSERT_NOT, sre.AT):
            continue
        if op is sre.LITERAL:
            return first | {re.escape(chr(av))}, False
        if op is sre.IN:
            fragments = _class_fragments(av)
            return (None if fragments is None else first | fragments), False
        if op is sre.SUBPATTERN and not (av[1] or av[2]):
            inner, nullable = _first_characters(av[3])
        elif op is sre.BRANCH:
            branches = [_first_characters(branch) for branch in av[1]]
            if any(fragments is None for fragments, _ in branches):
                return None, False
            inner, nullable = set().union(*(fragments for fragments, _ in branches)), any(n for _, n in branches)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            inner, nullable = _first_characters(av[2])
            nullable = nullable or av[0] == 0
        else:
            return None, False
        if inner is None:
            return None, False
        first |= inner
        if not nullable:
            return first, False
    return first, True


def _class_fragments(members: Any) -> set[str] | None:
    fragments: set[str] = set()
    for op, av in members:
        if op is sre.LITERAL:
            fragments.add(re.escape(chr(av)))
        elif op is sre.RANGE:
            fragments.add(f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}")
        elif op is sre.CATEGORY and av in _CATEGORIES:
            fragments.add(_CATEGORIES[av])
        else:
            return None
    return fragments


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
