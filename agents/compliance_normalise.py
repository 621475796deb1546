"""The text the compliance rules read: evasive spellings undone, every position traceable to the caller's text.

Brand copy written to slip past filters splits words ("最 好", "根*治", "微❤信", zero-width characters), writes
traditional characters ("療效"), full-width forms ("ＮＯ．１"), numbers in words ("百分之九十八", "九成",
"一三八…") and platform slang for contact channels ("绿泡泡", "扣扣", "私我"). The rules are written once, against
plain simplified Chinese; ``Normaliser`` turns a text into that form and keeps, for each step that changed lengths,
the edits it made, so a span found in the normalised text maps back to the characters of the original. Rewrites
edit the original text.

Every step is one left-to-right regex pass with bounded repeats (``agents.regex_safety``): linear in the text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from agents.regex_safety import gated

# Full-width letters, digits and signs folded to ASCII one character for one.
_FULLWIDTH = ({code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0xFE6A: ord("%"), 0x066A: ord("%")}
              | {first + i: ord("1") + i for first in (0x2460, 0x2776, 0x2780, 0x278A) for i in range(9)})  # ①, ❶, ➀, ➊

_CJK = "\u4e00-\u9fff\u3400-\u4dbf"
_INVISIBLE = "\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\ufe00-\ufe0f\u20e3"  # \u20e3: keycap 1️⃣
# What copywriters put between the characters of a word: spaces, dots, dashes, slashes, stars, hearts, emoji.
# Not clause or sentence breaks (，。！？；, newline), not 、 or quotes: they carry meaning the rules read.
_FILLER = (r" \t\u00a0.·•・‧∙⋅*＊_\-—–~～|/\\^`'#@=<>«»♡♥❤❣★☆✦✧✩✪✫✬✭✮✯✰✨❀✿❁✾♪♫"
           "\u2190-\u21ff\u2300-\u23ff\u2500-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff")
_INVISIBLE_RUN = re.compile(f"[{_INVISIBLE}]{{1,100}}")
# A run of fillers with a Chinese character on one side and a Chinese character or a letter or digit on the other.
_SPLIT = gated(re.compile(f"(?<=[{_CJK}])[{_FILLER}]{{1,6}}(?=[{_CJK}A-Za-z0-9])|(?<=[A-Za-z0-9])[{_FILLER}]{{1,6}}(?=[{_CJK}])"))

_DIGITS = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_DIGIT = "零〇一幺二两三四五六七八九"
_NUMERAL = f"[{_DIGIT}十]{{1,4}}"
_NUMBERS = gated(re.compile(
    rf"百分之(?P<percent>{_NUMERAL}(?:点[{_DIGIT}]{{1,4}})?|百)"        # 百分之九十八, 百分之九十九点九, 百分之百
    rf"|(?P<hundred>百分百)"
    rf"|(?<![{_DIGIT}十几])(?P<tenths>[一二三四五六七八九十])成(?P<hundredths>[一二三四五六七八九])?(?![新熟功本员]|不变)"  # 九成, 九成九
    rf"|(?P<spoken>{_NUMERAL})(?=%)"                                     # 九十%
    rf"|(?<=第)(?P<first>1)(?![0-9])"                                     # 第1: the rules read ordinals as 第一
    rf"|(?<![0-9{_DIGIT}])(?P<phone>(?=[0-9{_DIGIT}]{{0,14}}[{_DIGIT}])[0-9{_DIGIT}]{{7,15}})(?![0-9{_DIGIT}])"  # 一三八…, 1三8…
))


class _Edits:
    """The edits one pass made: (start, end) in its input and (start, end) of what replaced it in its output."""

    def __init__(self, inputs: list[tuple[int, int]], outputs: list[tuple[int, int]]) -> None:
        self.inputs, self.outputs = inputs, outputs
        self._starts = [start for start, _ in outputs]

    def start_before(self, position: int) -> int:
        """Where the character at output ``position`` came from (a replaced character: its replacement's start)."""
        i = bisect.bisect_right(self._starts, position) - 1
        if i < 0:
            return position
        (in_start, in_end), (_, out_end) = self.inputs[i], self.outputs[i]
        return in_start if position < out_end else position - out_end + in_end

    def end_before(self, position: int) -> int:
        """Where an output span ending (exclusively) at ``position`` ends in the input."""
        i = bisect.bisect_left(self._starts, position) - 1
        if i < 0:
            return position
        in_end, out_end = self.inputs[i][1], self.outputs[i][1]
        return in_end if position <= out_end else position - out_end + in_end


@dataclass(frozen=True)
class Normalised:
    """The normalised ``text`` and the passes that made it from ``original``."""

    original: str
    text: str
    passes: tuple[_Edits, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original characters a span of ``text`` was made from (a whole replaced word, never half of one)."""
        for edits in reversed(self.passes):
            start, end = edits.start_before(start), edits.end_before(end)
        return start, end


def _apply(text: str, pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str | None]) -> tuple[str, _Edits | None]:
    """``text`` with each match of ``pattern`` replaced by ``replace(match)`` (None keeps it), and the edits made."""
    pieces: list[str] = []
    inputs: list[tuple[int, int]] = []
    outputs: list[tuple[int, int]] = []
    cursor = length = 0
    for match in pattern.finditer(text):
        replacement = replace(match)
        if replacement is None or replacement == match.group():
            continue
        start, end = match.span()
        pieces.append(text[cursor:start])
        length += start - cursor
        inputs.append((start, end))
        outputs.append((length, length + len(replacement)))
        pieces.append(replacement)
        length += len(replacement)
        cursor = end
    if not inputs:
        return text, None
    pieces.append(text[cursor:])
    return "".join(pieces), _Edits(inputs, outputs)


def _spoken(numeral: str) -> int | None:
    """九十八 → 98, 十五 → 15, 十 → 10, 九八 → 98 (digit by digit); None for what is not one number (八九十)."""
    if "十" not in numeral:
        return int("".join(str(_DIGITS[c]) for c in numeral))
    tens, _, units = numeral.partition("十")
    if len(tens) > 1 or len(units) > 1 or "十" in units:
        return None
    return (_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[units] if units else 0)


def _number(match: re.Match[str]) -> str | None:
    groups = match.groupdict()
    if groups["percent"]:
        if groups["percent"] == "百":
            return "100%"
        spoken, _, decimals = groups["percent"].partition("点")
        whole = _spoken(spoken)
        if whole is None or whole > 100:
            return None
        return f"{whole}{'.' + ''.join(str(_DIGITS[c]) for c in decimals) if decimals else ''}%"
    if groups["hundred"]:
        return "100%"
    if groups["tenths"]:
        tenths = 10 if groups["tenths"] == "十" else _DIGITS[groups["tenths"]]
        return f"{tenths * 10 + (_DIGITS[groups['hundredths']] if groups['hundredths'] else 0)}%"
    if groups["spoken"]:
        whole = _spoken(groups["spoken"])
        return None if whole is None else str(whole)
    if groups["first"]:
        return "一"
    return "".join(c if c.isascii() else str(_DIGITS[c]) for c in groups["phone"])


class Normaliser:
    """Turns texts into the form the rules are written against.

    ``symbols`` maps a word to the emoji and signs that stand for it ("无": ["🈚"], "电话": ["📞"]), replaced before
    the fillers between characters are dropped (they would be dropped as fillers otherwise); ``slang`` maps a
    canonical word to its variants ("微信": ["绿泡泡", "薇信", …]), replaced last, so "绿 泡 泡" is caught too."""

    def __init__(self, symbols: Mapping[str, list[str]] | None = None, slang: Mapping[str, list[str]] | None = None,
                 pinyin: Mapping[str, list[str]] | None = None) -> None:
        """``pinyin``: a character and the syllables written for it inside a Chinese word ("zui好", "jue对安全"); a
        syllable is read only against a Chinese character and not inside a longer Latin word."""
        self._steps: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str | None]]] = []
        self._add_table(symbols or {})
        self._steps += [(_INVISIBLE_RUN, _deleted), (_SPLIT, _deleted), (_NUMBERS, _number)]
        self._add_table(pinyin or {}, f"(?<![A-Za-z])(?:{{}})(?=[{_CJK}])|(?<=[{_CJK}])(?:{{}})(?![A-Za-z])")
        self._add_table(slang or {})

    def _add_table(self, table: Mapping[str, list[str]], frame: str = "{}") -> None:
        variants = {_fold(variant).lower(): word for word, spellings in table.items() for variant in spellings}
        if variants:
            alternatives = "|".join(map(re.escape, sorted(variants, key=len, reverse=True)))
            pattern = gated(re.compile(frame.format(alternatives, alternatives), re.IGNORECASE))
            self._steps.append((pattern, lambda match: variants[match.group().lower()]))

    def __call__(self, text: str) -> Normalised:
        original = text
        text, converted = _simplified(text.translate(_FULLWIDTH))
        passes = [converted] if converted else []
        for pattern, replace in self._steps:
            text, edits = _apply(text, pattern, replace)
            if edits is not None:
                passes.append(edits)
        return Normalised(original, text, tuple(passes))

    def fold(self, term: str) -> str:
        """A word (a brand's term) as the rules match it: normalised and lower-cased (matching ignores case). Two
        words with the same fold are one word to the matcher."""
        return self(term).text.lower()


def _deleted(match: re.Match[str]) -> str:
    return ""


def _fold(text: str) -> str:
    """Full-width forms and traditional characters folded, the way texts are before the edit passes."""
    return _simplified(text.translate(_FULLWIDTH))[0]


@cache
def _converter():  # type: ignore[no-untyped-def]
    import opencc  # a compiled extension; its dictionaries load once per process

    return opencc.OpenCC("t2s")


@cache
def _traditional() -> re.Pattern[str]:
    """The characters t2s changes (CJK blocks converted once, ~10 ms): most texts hold none and skip OpenCC."""
    source = "".join(map(chr, [*range(0x3400, 0xA000), *range(0xF900, 0xFB00)]))
    changed = {before for before, after in zip(source, _converter().convert(source)) if before != after}
    return re.compile(f"[{''.join(sorted(changed))}]")


def _simplified(text: str) -> tuple[str, _Edits | None]:
    """Traditional characters as simplified ones. OpenCC converts phrases as well as characters; when a phrase
    changes length (rare in t2s), that stretch is converted character by character so positions stay aligned."""
    if not _traditional().search(text):
        return text, None
    converted = _converter().convert(text)
    if len(converted) == len(text):
        return converted, None
    convert = _converter().convert
    return _apply(text, re.compile(r"[^\x00-\x7f]"), lambda match: convert(match.group()))
