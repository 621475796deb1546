"""Regexes that stay linear on long texts: the check that refuses a pattern which could take quadratic time, and the
first-character gate that lets Python's engine skip quickly through text.

Python's backtracking engine is quadratic on an unbounded repeat tried at every start ("\\d+" on a run of digits), and
it skips quickly only through patterns that open with a literal. The compliance packs, the brand rules, the text
normaliser and the lexicons all compile through here.
"""

from __future__ import annotations

import re
from re import _constants as sre  # the stdlib's parsed form of a regex, read once per pattern
from re import _parser as sre_parse
from typing import Any

MAX_REPEAT = 100  # the largest repeat count a pattern may write: a bigger bound is as slow as none on long texts


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


def reach(pattern: re.Pattern[str]) -> int:
    """How many characters from its start a match of ``pattern`` (bounded) can read: its longest match plus
    whatever its lookarounds read."""
    def lookarounds(items: Any) -> int:
        return sum(av[1].getwidth()[1] if op in (sre.ASSERT, sre.ASSERT_NOT) else 0 for op, av in items) + sum(
            lookarounds(part) for op, av in items for part in _parts(op, av))

    parsed = sre_parse.parse(pattern.pattern, pattern.flags)
    return parsed.getwidth()[1] + lookarounds(parsed)


def gated(pattern: re.Pattern[str]) -> re.Pattern[str]:
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


def starting_characters(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """The characters (lower-cased) every match of ``pattern`` starts with, or None when that is not a short list of
    literals (a range, ``\\d``, ``.``, a pattern that can match empty). A text holding none of them has no match:
    checking that on the text's set of characters costs far less than a scan, for the hundreds of rule patterns a
    short message goes through."""
    try:
        first, nullable = _first_characters(sre_parse.parse(pattern.pattern, pattern.flags))
    except Exception:
        return None
    if first is None or nullable:
        return None
    characters: set[str] = set()
    for fragment in first:
        if fragment == r"\d":
            characters.update("0123456789")
            continue
        if fragment in _CATEGORIES.values():
            return None
        literal = fragment[1:] if fragment.startswith("\\") and len(fragment) == 2 else fragment
        if len(literal) == 3 and literal[1] == "-" and ord(literal[2]) - ord(literal[0]) < _MAX_RANGE:
            characters.update(chr(code).lower() for code in range(ord(literal[0]), ord(literal[2]) + 1))
        elif len(literal) == 1:
            characters.add(literal.lower())
        else:
            return None
    return frozenset(characters)


_MAX_RANGE = 128  # a wider class (一-龥) is not worth listing: the pattern is scanned


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


