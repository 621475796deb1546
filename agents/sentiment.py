"""The sentiment agent: how a customer feels about the brand right now, and how soon a person should step in.

Offline (the default) is a lexicon analysis of Chinese 医美/美妆 messages with
negation, degree words, contrast clauses, questions, worry and hedging, and a
backoff to sentiment-bearing characters when no lexicon word decides; the
lexicon is data (``sentiment/lexicon.yaml`` of the config dir). LLM mode asks
the router for a structured verdict and falls back to the offline analysis
whenever no real model answered usefully.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from agents.bounds import History
from agents.offload import off_the_loop
from agents.ports import LLMClient
from agents.regex_safety import superlinear
from llm.errors import LLMError
from llm.types import ChatMessage, LLMRequest, LLMResponse

SentimentLabel = Literal["positive", "negative", "neutral"]
Urgency = Literal["low", "medium", "high"]
TokenKind = Literal[
    "sentiment", "context", "aspect", "degree", "post_degree", "negator", "post_negator", "contrast", "contrast_at_start",
    "concession", "question", "rhetorical_keep", "rhetorical_invert", "hypothetical", "hedge", "ignore", "punct",
    "backoff", "resolver", "consultation", "aftermath", "earlier",
]

LABEL_THRESHOLD = 0.3  # |polarity| below this is neutral: weak or mixed signals
NEGATOR_REACH = 4  # characters between a negator and the word it negates (没有想象中疼)
DEGREE_REACH = 2
ASPECT_REACH = 3
MAX_DEGREE = 2.0
NEGATED_POSITIVE, SOFTLY_NEGATED_POSITIVE = 0.8, 0.4  # 不满意 / 不太满意
NEGATED_NEGATIVE, SOFTLY_NEGATED_NEGATIVE = 0.5, 0.3  # 不疼 is good news, not delight
QUESTION_DAMPING = 0.15  # 会肿吗？ asks, it does not complain
HYPOTHETICAL_DAMPING = 0.25  # 如果…, 想变美, 说好的一周消肿: not what happened
CONCESSION = 0.5  # what comes before 但是, and a 虽然 clause
EXCLAMATION = 1.25
HEDGE_DAMPING = 0.5
STRONG_WORRY = -1.4
RELIEF = 0.6  # 本来很担心，结果…: a worry about how things were before that a contrast answers turns into relief
RESOLVER_REACH = 6  # 疤痕问题，现在基本看不出来了: characters between a problem and the word saying it is gone
RESOLVED = 0.8
SARCASM = -1.0  # 这也叫服务？ with nothing to invert is still a jab
FURIOUS = -3.5  # many strong complaints in one message: anger even without an anger word
REPORTED_TAGS = frozenset({"health", "action", "anger"})  # a negative message with one of these is urgent
UNNEGATABLE_TAGS = frozenset({"action", "complaint"})  # 不给退款 is still a complaint
UNDAMPED_BY_QUESTION = frozenset({"action", "worry", "complaint"})  # 可以退款吗？ still wants the money back
UNDAMPED_BY_HYPOTHESIS = frozenset({"worry", "complaint"})
REPORT_MARK = "了"  # 是不是过敏了？ reports a symptom even as a question
TOPIC_MARKS = ("问题", "的问题")  # 疤痕问题 names a topic, it does not report a symptom
INQUIRY = 0.3  # 术后第二天有点肿，是正常的吗？: what leads up to a closing question is context for it
PERSISTENCE = re.compile(r"还是|一直|仍然|依然|还没|还在|越来越|都[^，。！？,.!?]{1,6}了")  # …还是肿的，正常吗？ complains
QUESTION_PARTICLES = frozenset({"吗", "么"})
STRONG_TAGS = frozenset({"worry", "action", "anger", "complaint"})
HISTORY_WINDOW = 5
REPEATED_COMPLAINTS = 2
URGENCY_LEVELS: tuple[Urgency, ...] = ("low", "medium", "high")
CLAUSE_END = frozenset("，,。.；;：:、\n\r\t ~～…")
QUESTION_END = frozenset("？?")
EXCLAMATION_END = frozenset("！!")

SIMPLE_SECTIONS: dict[str, TokenKind] = {  # lexicon section -> token kind, for the sections that are plain word lists
    "contrast": "contrast", "contrast_at_clause_start": "contrast_at_start", "concession": "concession", "earlier": "earlier",
    "hypothetical": "hypothetical", "hedges": "hedge", "ignore": "ignore", "consultation": "consultation",
    "aftermath": "aftermath",
}

LLM_ALIAS = "structured"
LLM_HISTORY_CHARS = 200
LLM_SYSTEM_PROMPT = (
    "你是医美/美妆机构的客户情绪分析员。判断客户“当前消息”的情绪，只输出JSON。"
    "label：positive/negative/neutral（单纯咨询、预约、比较价格、犹豫为neutral）；score：-1到1的情绪极性；"
    "urgency：反映身体问题（肿、过敏、感染、剧痛、流脓、发烧）、要求退款、投诉、曝光、找律师或强烈愤怒为high，"
    "其他负面为medium，否则low；若历史消息显示客户反复投诉，可提高urgency。cues：决定判断的原文词语。"
    "label只依据当前消息。"
)


class SentimentInput(BaseModel):
    text: str = Field(min_length=1, max_length=5000)
    history: History = []


class SentimentResult(BaseModel):
    label: SentimentLabel
    score: float = Field(ge=-1, le=1, description="Polarity.")
    urgency: Urgency
    cues: list[str] = Field(default=[], description="The words and phrases that decided it (for the run record).")
    mode: Literal["offline", "llm"]
    fallback_reason: str | None = Field(default=None, description="LLM mode that fell back to offline: why.")
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    model: str | None = None


class LLMVerdict(BaseModel):
    """What the model must answer (its JSON schema is sent with the request)."""

    label: SentimentLabel
    score: float = Field(ge=-1, le=1)
    urgency: Urgency
    cues: list[str] = Field(default=[], max_length=8)


VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "score": {"type": "number", "minimum": -1, "maximum": 1},
        "urgency": {"type": "string", "enum": list(URGENCY_LEVELS)},
        "cues": {"type": "array", "items": {"type": "string"}, "maxItems": 8},
    },
    "required": ["label", "score", "urgency", "cues"],
    "additionalProperties": False,
}


# --- the lexicon -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """What a matched word or pattern means. ``kind`` decides how the scorer uses it."""

    kind: TokenKind
    weight: float = 0.0
    tag: str | None = None
    needs: str | None = None  # context adjectives: "aspect" or "modifier"
    degree: float | None = None  # a context adjective used as a degree word (好担心)
    flip_after_price: bool = False
    price: bool = False
    soft: bool = False


@dataclass(frozen=True)
class Lexicon:
    scanner: re.Pattern[str]
    words: dict[str, Entry]
    patterns: dict[int, Entry]  # the number of the pattern's marker group -> entry
    word_group: int  # the marker group of the word alternative


@dataclass(frozen=True)
class Token:
    entry: Entry
    start: int
    end: int
    text: str


def trie_regex(words: Iterable[str]) -> str:
    """One regex for many literals that prefers the longest at each position (a trie, so matching stays fast)."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


def _lexicon_entries(data: dict[str, Any]) -> tuple[list[tuple[str, Entry]], list[tuple[str, Entry]]]:
    """(words, patterns) with their entries, in the order the file gives them."""
    words: list[tuple[str, Entry]] = []
    patterns: list[tuple[str, Entry]] = []
    for group in data["sentiment"]:
        entry = Entry("sentiment", float(group["weight"]), group.get("tag"))
        words += [(str(word), entry) for word in group.get("words", [])]
        patterns += [(pattern, entry) for pattern in group.get("patterns", [])]
    for group in data["rhetorical"]:
        patterns += [(pattern, Entry("sentiment", float(group["weight"]), "complaint")) for pattern in group["patterns"]]
    for word, spec in data["context_adjectives"].items():
        words.append((word, Entry("context", float(spec["weight"]), needs=spec["needs"], degree=spec.get("degree"),
                                  flip_after_price=spec.get("flip_after_price", False))))
    words += [(word, Entry("aspect", price=group == "price")) for group, items in data["aspects"].items() for word in items]
    words += [(str(word), Entry("degree", float(weight))) for weight, items in data["degrees"].items() for word in items]
    words += [(word, Entry("post_degree", float(weight))) for weight, items in data["post_degrees"].items() for word in items]
    words += [(word, Entry("negator", soft=strength == "soft")) for strength, items in data["negators"].items() for word in items]
    patterns += [(pattern, Entry("negator")) for pattern in data["negator_patterns"]]
    patterns += [(pattern, Entry("post_negator")) for pattern in data["post_negators"]]
    patterns += [(pattern, Entry("resolver", float(weight))) for weight, items in data["resolvers"].items() for pattern in items]
    words += [(str(word), Entry("backoff", float(weight))) for weight, items in data["backoff"].items() for word in items]
    for section, kind in SIMPLE_SECTIONS.items():
        words += [(word, Entry(kind)) for word in data[section]]
    patterns += [(pattern, Entry("hypothetical")) for pattern in data["hypothetical_patterns"]]
    patterns += [(pattern, Entry("ignore")) for pattern in data["ignore_patterns"]]
    words += [(word, Entry("question")) for word in data["questions"]["words"]]
    patterns += [(pattern, Entry("question")) for pattern in data["questions"]["patterns"]]
    for effect, items in data["rhetorical_markers"].items():
        patterns += [(pattern, Entry("rhetorical_invert" if effect == "invert" else "rhetorical_keep")) for pattern in items]
    words += [(char, Entry("punct")) for char in CLAUSE_END | QUESTION_END | EXCLAMATION_END]
    return words, patterns


class _StrictLoader(yaml.SafeLoader):
    """Refuses a key given twice in one mapping: plain YAML keeps the last silently, losing a group's words."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=True) for key, _ in node.value]
        if repeated := sorted({str(key) for key in keys if keys.count(key) > 1}):
            raise ValueError(f"{node.start_mark}: {', '.join(repeated)} given twice")
        return super().construct_mapping(node, deep=deep)


@lru_cache(maxsize=4)
def load_lexicon(path: Path) -> Lexicon:
    with open(path, encoding="utf-8") as fh:
        words, patterns = _lexicon_entries(yaml.load(fh, Loader=_StrictLoader))
    table: dict[str, Entry] = {}
    for word, entry in words:
        if table.setdefault(word.lower(), entry) != entry:  # matching ignores case: YYDS, Q弹
            raise ValueError(f"{path}: {word!r} is listed twice with different meanings")
    # Each alternative ends with an empty marker group that names it (match.lastindex); a named group around it
    # instead would stop the regex engine from skipping an alternative on its first character, five times slower.
    alternatives, marked, group = [], {}, 0
    for pattern, entry in patterns:
        compiled = re.compile(pattern, re.IGNORECASE)
        if slow := superlinear(compiled):  # the scanner runs on every customer message, up to 20,000 characters
            raise ValueError(f"{path}: {slow} in {pattern!r}")
        group += compiled.groups + 1
        alternatives.append(f"(?:{pattern})()")
        marked[group] = entry
    scanner = re.compile("|".join([*alternatives, f"(?:{trie_regex(table)})()"]), re.IGNORECASE)
    return Lexicon(scanner, table, marked, word_group=group + 1)


def tokenize(text: str, lexicon: Lexicon) -> list[Token]:
    tokens = []
    for match in lexicon.scanner.finditer(text):
        marker = match.lastindex
        entry = lexicon.words[match.group().lower()] if marker == lexicon.word_group else lexicon.patterns[marker]
        tokens.append(Token(entry, match.start(), match.end(), match.group()))
    return tokens


# --- scoring -----------------------------------------------------------------------------------------------------


@dataclass
class Contribution:
    value: float
    start: int  # the cue's span in the text: the word with its negator and degree words
    end: int
    tag: str | None
    reported: bool  # stated as fact: not negated, not asked about, not hypothetical
    backoff: bool = False  # from a sentiment-bearing character, not a lexicon word
    scale: float = 1.0  # what the clauses make of it: a concession or a later contrast weakens it, ！ strengthens it


@dataclass
class Segment:
    """A clause, or the part of one after a contrast word."""

    tokens: list[Token] = field(default_factory=list)
    after_contrast: bool = False
    ends_with: str = ""


def _segments(tokens: list[Token]) -> list[Segment]:
    segments = [Segment()]
    for token in tokens:
        kind, current = token.entry.kind, segments[-1]
        if kind == "punct":
            if current.tokens:
                current.ends_with = token.text
                segments.append(Segment())
            elif len(segments) > 1 and token.text in QUESTION_END | EXCLAMATION_END:  # 太差了！！ / 真的吗？？
                segments[-2].ends_with = token.text
        elif kind == "contrast" or (kind == "contrast_at_start" and not current.tokens and len(segments) > 1):
            segments.append(Segment(after_contrast=True))
        else:
            current.tokens.append(token)
    return [segment for segment in segments if segment.tokens]


def _degree_chain(modifiers: list[Token], anchor: int) -> list[Token]:
    """The degree words right before ``anchor``, each within reach of the next (真的太贵: 真的, 太)."""
    chain: list[Token] = []
    for token in reversed(modifiers):
        if token.end > anchor or token.entry.kind in ("aspect", "negator"):
            continue
        if anchor - token.end > DEGREE_REACH:
            break
        chain.insert(0, token)
        anchor = token.start
    return chain


def _degree(tokens: Iterable[Token]) -> float:
    product = 1.0
    for token in tokens:
        product *= token.entry.degree if token.entry.kind == "context" else token.entry.weight
    return min(product, MAX_DEGREE)


def _acts_as_degree(token: Token, following: Token | None) -> bool:
    """好担心: 好 right before a sentiment word intensifies it."""
    return (
        token.entry.kind == "context" and token.entry.degree is not None and following is not None
        and following.start == token.end and following.entry.kind in ("sentiment", "context")
    )


def _context_applies(adjective: Token, modifiers: list[Token], following: Token | None) -> bool:
    """效果好 / 很好 / 不好 / 精神多了 count; a bare 好 (好的, 你好) does not."""
    if following is not None and following.entry.kind == "post_degree" and following.start - adjective.end <= 1:
        return True
    near = [m for m in modifiers if adjective.start - m.end <= ASPECT_REACH]
    if adjective.entry.needs == "aspect":
        return any(m.entry.kind == "aspect" for m in near)
    return bool(near)


def _word_value(word: Token, modifiers: list[Token]) -> tuple[float, int, bool]:
    """(value, where its cue starts, whether it was negated) for a sentiment word and the modifiers before it."""
    entry, weight = word.entry, word.entry.weight
    if entry.flip_after_price and any(m.entry.kind == "aspect" and m.entry.price for m in modifiers):
        weight = -weight
    chain = _degree_chain(modifiers, word.start)
    reach_from = chain[0].start if chain else word.start  # 没有想象中那么痛: the negator reaches past 那么
    negators = [m for m in modifiers if m.entry.kind == "negator" and reach_from - m.end <= NEGATOR_REACH]
    negator = negators[-1] if negators and entry.tag not in UNNEGATABLE_TAGS else None
    if negator is None:
        return weight * _degree(chain), reach_from, False
    before = _degree_chain(modifiers, negator.start)
    soft = negator.entry.soft or any(m.start >= negator.end and m.entry.kind != "aspect" for m in modifiers)
    if weight > 0:
        factor = SOFTLY_NEGATED_POSITIVE if soft else NEGATED_POSITIVE
    else:
        factor = SOFTLY_NEGATED_NEGATIVE if soft else NEGATED_NEGATIVE
    return -weight * factor * _degree(before), before[0].start if before else negator.start, True


@dataclass(frozen=True)
class Reading:
    """What holds for the whole message while one clause is scored."""

    text: str
    consulting: bool  # asks what to do about a condition, with nothing said about a treatment already done


def _describes_condition(token: Token) -> bool:
    entry = token.entry
    return entry.tag == "health" or entry.kind == "backoff" or (entry.kind == "context" and entry.weight < 0)


def _damping(token: Token, question: bool, hypothetical: bool, reading: Reading) -> float:
    """How much a word counts when it is asked about (会肿吗？), not real (如果…, 说好的…) or a condition to treat."""
    tag = token.entry.tag
    damping = 1.0
    topic = tag == "health" and reading.text.startswith(TOPIC_MARKS, token.end)
    if (hypothetical and tag not in UNDAMPED_BY_HYPOTHESIS) or topic:
        damping *= HYPOTHETICAL_DAMPING
    reported = tag == "health" and (token.text.endswith(REPORT_MARK) or reading.text.startswith(REPORT_MARK, token.end))
    # a refund asked about hypothetically (不满意可以退款吗？) is a pre-sales question, not a demand
    asked = question and (tag not in UNDAMPED_BY_QUESTION or (hypothetical and tag == "action"))
    described = reading.consulting and _describes_condition(token)  # 脸上有红血丝 / 毛孔比较粗，适合做什么？
    if (asked or described) and not reported:
        damping *= QUESTION_DAMPING
    return damping


def _resolves(resolver: Token, problem: Contribution | None) -> bool:
    if problem is None or problem.tag != "health" or problem.value >= 0:
        return False
    return resolver.start - problem.end <= RESOLVER_REACH


def _resolve(problem: Contribution, resolver: Token) -> None:
    """疤痕几乎看不见 / 泛红的问题基本没了: a problem said to be gone is good news, however it was named."""
    problem.value = max(-problem.value, RESOLVED)
    problem.end, problem.reported = resolver.end, False


def _asks(segment: Segment) -> bool:
    """A genuine question: 会肿吗？ asks, 你们到底怎么回事？ complains."""
    kinds = {token.entry.kind for token in segment.tokens}
    rhetorical = bool(kinds & {"rhetorical_keep", "rhetorical_invert"}) or any(t.entry.tag == "complaint" for t in segment.tokens)
    return not rhetorical and ("question" in kinds or segment.ends_with in QUESTION_END)


def _ends_asking(segment: Segment) -> bool:
    """The closing clause is a plain question (？ or 吗), not a question word inside a statement (明白该怎么选了)."""
    return _asks(segment) and (segment.ends_with in QUESTION_END or any(t.text in QUESTION_PARTICLES for t in segment.tokens))


def _scores(token: Token, modifiers: list[Token], following: Token | None) -> bool:
    """Whether the token counts as a sentiment word here (a resolver with no symptom to resolve counts on its own)."""
    kind = token.entry.kind
    if kind == "context":
        return _context_applies(token, modifiers, following)
    return kind in ("sentiment", "backoff") or (kind == "resolver" and token.entry.weight != 0)


def _segment_contributions(segment: Segment, reading: Reading, previous: Contribution | None) -> list[Contribution]:
    """The clause's contributions; ``previous`` (the last one before it) can be resolved: 有淤青，现在基本看不到了."""
    contributions: list[Contribution] = []
    modifiers: list[Token] = []
    kinds = {token.entry.kind for token in segment.tokens}
    question = _asks(segment)
    hypothetical = False
    last: Contribution | None = None
    tokens = segment.tokens
    for index, token in enumerate(tokens):
        kind = token.entry.kind
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if kind in ("aspect", "degree", "negator") or _acts_as_degree(token, following):
            modifiers.append(token)
        elif kind == "hypothetical":
            hypothetical = True
        elif kind == "post_degree" and last is not None and token.start - last.end <= 1:  # 亮了好多, 疼得厉害
            last.value *= token.entry.weight
            last.end = token.end
        elif kind == "post_negator" and last is not None and last.reported and token.start == last.end:  # 红肿都没有
            last.value *= -(NEGATED_POSITIVE if last.value > 0 else NEGATED_NEGATIVE)
            last.end, last.reported = token.end, False
        elif kind == "resolver" and _resolves(token, last or previous):
            _resolve(last or previous, token)
        elif _scores(token, modifiers, following):
            value, cue_start, negated = _word_value(token, modifiers)
            damping = _damping(token, question, hypothetical, reading)
            value *= damping
            damped = damping < 1
            if "rhetorical_invert" in kinds and value > 0:
                value = -value
            if token.entry.tag == "worry" and any(c.tag == "worry" for c in contributions):  # 怕我紧张 is one worry
                value *= HYPOTHETICAL_DAMPING
            last = Contribution(value, cue_start, token.end, token.entry.tag, not (negated or damped), kind == "backoff")
            contributions.append(last)
            hypothetical = hypothetical or token.entry.tag == "worry"  # 怕疼: what is feared has not happened
            modifiers = [m for m in modifiers if m.entry.kind == "aspect"]
    return _with_irony(contributions, tokens)


def _with_irony(contributions: list[Contribution], tokens: list[Token]) -> list[Contribution]:
    """谢谢你们让我花了冤枉钱: thanks next to a complaint are sarcastic; 这也叫服务？ with nothing to invert is a jab."""
    if any(c.value < 0 for c in contributions):
        for contribution in contributions:
            if contribution.tag == "thanks" and contribution.value > 0:
                contribution.value = -contribution.value
    marker = next((token for token in tokens if token.entry.kind == "rhetorical_invert"), None)
    if marker is not None and not contributions:
        return [Contribution(SARCASM, marker.start, marker.end, "complaint", True)]
    return contributions


@dataclass
class Analysis:
    text: str
    polarity: float
    contributions: list[Contribution]
    hedges: list[str]  # 再考虑考虑 …: the customer defers, the message leans neutral


def _is_earlier(segment: Segment) -> bool:
    """之前纠结了很久: a clause about how things were before (its hesitation is over)."""
    return any(token.entry.kind == "earlier" for token in segment.tokens)


def _open_hedges(segments: list[Segment]) -> list[str]:
    """再考虑考虑 defers a decision, unless it is told as past: 之前纠结了很久 / 纠结要不要做，做完…"""
    tokens = [token for segment in segments if not _is_earlier(segment) for token in segment.tokens]
    done = max((token.start for token in tokens if token.entry.kind == "aftermath"), default=-1)
    return [token.text for token in tokens if token.entry.kind == "hedge" and token.start > done]


def _relieve(found: list[Contribution]) -> None:
    """本来很担心，结果…: the worry of an earlier clause that a contrast answers is relief, and what the contrast says."""
    for contribution in found:
        if contribution.tag == "worry" and contribution.value < 0:
            contribution.value, contribution.tag, contribution.reported = -contribution.value * RELIEF, None, False
            contribution.scale = 1.0


def _as_inquiry(contributions: list[Contribution], question_start: int) -> None:
    """A message that ends by asking is an inquiry: the plain statements before the question only set its context."""
    for contribution in contributions:
        if contribution.end <= question_start and contribution.tag not in STRONG_TAGS:
            contribution.scale *= INQUIRY


def _scaled(contributions: Iterable[Contribution]) -> float:
    return sum(c.value * c.scale for c in contributions)


def _clause_weight(segment: Segment) -> float:
    weight = CONCESSION if any(t.entry.kind in ("concession", "earlier") for t in segment.tokens) else 1.0
    return weight * EXCLAMATION if segment.ends_with in EXCLAMATION_END else weight


def _message_contributions(segments: list[Segment], reading: Reading) -> list[Contribution]:
    """Every clause's contributions, scaled for how the clauses relate (contrast, concession, relief, a closing question)."""
    contributions: list[Contribution] = []
    relieving: list[Contribution] = []
    contrasts_before: list[int] = []  # per contribution: the contrast clauses up to its own
    last_contrast = max((index for index, segment in enumerate(segments) if segment.after_contrast), default=-1)
    contrasts = 0
    for index, segment in enumerate(segments):
        found = _segment_contributions(segment, reading, contributions[-1] if contributions else None)
        contrasts += segment.after_contrast
        weight = _clause_weight(segment)
        for contribution in found:
            contribution.scale = weight
        if _is_earlier(segment) and index < last_contrast:
            relieving += found
        contributions += found
        contrasts_before += [contrasts] * len(found)
    # Each later contrast weakens what came before it; counted, not applied clause by clause, which was quadratic.
    for contribution, before in zip(contributions, contrasts_before, strict=True):
        contribution.scale *= CONCESSION ** (contrasts - before)
    _relieve(relieving)
    if segments and _ends_asking(segments[-1]) and not PERSISTENCE.search(reading.text):
        _as_inquiry(contributions, segments[-1].tokens[0].start)
    return contributions


def _analyse(text: str, lexicon: Lexicon) -> Analysis:
    """Polarity from the lexicon words; the backoff characters count only where the words leave it neutral."""
    tokens = tokenize(text, lexicon)
    kinds = {token.entry.kind for token in tokens}
    segments = _segments(tokens)
    reading = Reading(text, consulting="consultation" in kinds and "aftermath" not in kinds)
    contributions = _message_contributions(segments, reading)
    polarity = _scaled(c for c in contributions if not c.backoff)
    asks_anything = "question" in kinds or any(char in QUESTION_END for char in text)  # without word cues it stays neutral
    if abs(polarity) < LABEL_THRESHOLD and not asks_anything:
        polarity += _scaled(c for c in contributions if c.backoff)
    else:
        contributions = [c for c in contributions if not c.backoff]
    hedges = _open_hedges(segments)
    if hedges:
        polarity *= HEDGE_DAMPING
    return Analysis(text, polarity, contributions, hedges)


def _label(polarity: float) -> SentimentLabel:
    if polarity >= LABEL_THRESHOLD:
        return "positive"
    return "negative" if polarity <= -LABEL_THRESHOLD else "neutral"


def _urgency(analysis: Analysis, label: SentimentLabel) -> Urgency:
    reported = [c for c in analysis.contributions if c.reported and c.value < 0]
    if label != "negative":
        return "medium" if any(c.tag == "action" for c in reported) else "low"
    if any(c.tag in REPORTED_TAGS for c in reported) or analysis.polarity <= FURIOUS:
        return "high"
    return "high" if any(c.tag == "worry" and c.value <= STRONG_WORRY for c in reported) else "medium"


def _raised(urgency: Urgency, label: SentimentLabel, history: Sequence[str], lexicon: Lexicon) -> Urgency:
    """One level up when the customer has already complained repeatedly (unless they are pleased now)."""
    if label == "positive" or urgency == "high":
        return urgency
    complaints = sum(_label(_analyse(message, lexicon).polarity) == "negative" for message in history[-HISTORY_WINDOW:])
    return URGENCY_LEVELS[URGENCY_LEVELS.index(urgency) + 1] if complaints >= REPEATED_COMPLAINTS else urgency


def _cues(analysis: Analysis, label: SentimentLabel) -> list[str]:
    sign = {"positive": 1, "negative": -1}.get(label)
    deciding = [analysis.text[c.start : c.end] for c in analysis.contributions if sign is None or c.value * sign > 0]
    return list(dict.fromkeys(deciding + analysis.hedges))


def analyse_offline(lexicon: Lexicon, text: str, history: Sequence[str] = ()) -> SentimentResult:
    analysis = _analyse(text, lexicon)
    label = _label(analysis.polarity)
    urgency = _raised(_urgency(analysis, label), label, history, lexicon)
    return SentimentResult(
        label=label, score=round(math.tanh(analysis.polarity), 3), urgency=urgency, cues=_cues(analysis, label), mode="offline"
    )


# --- the agent ---------------------------------------------------------------------------------------------------


def _llm_request(request: SentimentInput) -> LLMRequest:
    history = request.history[-HISTORY_WINDOW:]
    lines = [f"{index}. {message[:LLM_HISTORY_CHARS]}" for index, message in enumerate(history, start=1)]
    earlier = "此前的客户消息（从旧到新）：\n" + "\n".join(lines) + "\n\n" if lines else ""
    return LLMRequest(
        model=LLM_ALIAS,
        system=LLM_SYSTEM_PROMPT,
        messages=[ChatMessage(role="user", content=f"{earlier}当前消息：{request.text}")],
        json_schema=VERDICT_SCHEMA,
        temperature=0,
        max_tokens=200,
        tenant_id=None,
    )


def _from_llm(response: LLMResponse) -> SentimentResult:
    verdict = LLMVerdict.model_validate(response.data)
    return SentimentResult(
        **verdict.model_dump(),
        mode="llm",
        input_tokens=response.usage.input_tokens,
        output_tokens=response.usage.output_tokens,
        cost_usd=response.cost_usd,
        model=response.model,
    )


class SentimentAgent:
    def __init__(self, llm: LLMClient | None, mode: Literal["offline", "llm"], config_dir: Path) -> None:
        """``config_dir``: the lexicon is its ``sentiment/lexicon.yaml``."""
        self._llm = llm
        self._mode = mode
        self._lexicon = load_lexicon(config_dir / "sentiment" / "lexicon.yaml")

    async def analyse(self, request: SentimentInput) -> SentimentResult:
        if self._mode == "offline":
            return await self._offline(request)
        if self._llm is None:
            return await self._fallback(request, "no LLM client is configured")
        try:
            response = await self._llm.complete(_llm_request(request))
        except LLMError as exc:
            return await self._fallback(request, f"LLM call failed: {exc.code}: {exc.message}")
        if response.offline:
            return await self._fallback(request, "only the offline provider is routed (no real model answered)")
        try:
            return _from_llm(response)
        except ValidationError as exc:
            return await self._fallback(request, f"LLM answer is not a valid verdict: {exc.errors()[0]['msg']}")

    async def _fallback(self, request: SentimentInput, reason: str) -> SentimentResult:
        return (await self._offline(request)).model_copy(update={"fallback_reason": reason})

    async def _offline(self, request: SentimentInput) -> SentimentResult:
        chars = len(request.text) + sum(map(len, request.history))
        return await off_the_loop(chars, analyse_offline, self._lexicon, request.text, request.history)
