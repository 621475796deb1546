"""Customer analysis of one conversation thread by rule: what the customer wants, worries about and can spend, how far
along they are and how likely they are to buy. It is the offline version of ``agents.social.analysis`` and the
findings its LLM version is given.

Only the customer's own messages and the thread's memories are read, at most ``limits.user_messages`` messages of at
most ``limits.message_chars`` characters each (and as bounded memories), so the work is linear and bounded. The word
lists, weights, tags and texts are data (``social/analysis.yaml``); a file that does not validate is refused whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from agents.intent import CatalogService, IntentInput, Strength, detect_intent
from agents.sales import CustomerProfile, Stage
from agents.sentiment import Lexicon, SentimentLabel, analyse_offline
from agents.social.analysis_rules import LeadConfig, Rules, WeightName, catalog_terms, normalise
from memory.facts import extract_facts
from memory.types import TurnMessage

BUDGET_SPANS = 3  # budgets read from questions, per message
MAX_ITEMS = 20  # of each list in a profile (allergies, treatments, services…)


# ---- what is read and what comes out ---------------------------------------------------------------------------


class CustomerFile(BaseModel):
    """What the analysis reads of one thread (the service loads it from the store and memory)."""

    tenant_id: str = ""
    thread_id: str
    customer: CustomerProfile = CustomerProfile()
    messages: list[TurnMessage] = Field(default=[], max_length=500, description="The transcript, oldest first.")
    memories: list[str] = Field(default=[], max_length=200, description='Long-term memories ("过敏：对酒精过敏", summaries).')
    catalog: list[CatalogService] = Field(default=[], max_length=10_000, description="The tenant's services (names, aliases).")
    now: datetime | None = None
    model: str | None = Field(default=None, description="Requested model or alias; None = the catalog default.")


class BudgetRange(BaseModel):
    min_cny: float | None = None
    max_cny: float | None = None
    text: str | None = Field(default=None, description='As the customer put it: "5000元左右", "3000-5000元", "不限".')


class LeadScore(BaseModel):
    score: int = Field(ge=0, le=100)
    reasons: list[str] = Field(default=[], description='What raised or lowered it: "明确预约时间 +20".')


class CustomerInsight(BaseModel):
    skin_type: str | None = None
    concerns: list[str] = []
    allergies: list[str] = []
    budget: BudgetRange | None = None
    treatments_done: list[str] = []
    interested_services: list[str] = []
    journey_stage: Stage
    intent_strength: Strength
    sentiment: SentimentLabel
    objections: list[str] = []
    lead: LeadScore


# ---- the analysis ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Findings:
    insight: CustomerInsight
    declined: bool
    time_text: str | None  # the visit's date and the customer's words: 5月3日（这周六下午三点）
    has_conversation: bool


_FACT_LINE = re.compile(r"^(过敏|预算|肤质|做过)[：:]")  # NFKC reads ： as :
_FACT_KINDS = {"过敏": "allergy", "预算": "budget", "肤质": "skin_type", "做过": "treatment"}
_BUDGET = re.compile(
    r"预算[：:](?:(?P<unlimited>不限)|(?P<low>\d+(?:\.\d+)?)(?:-(?P<high>\d+(?:\.\d+)?))?元(?P<qualifier>左右|以内|以上)?)$"
)
# A budget said in a question (预算2000左右能做什么？) is still said: the fact rules skip questions, so it is read alone.
_BUDGET_SPAN = re.compile(
    r"(?:预算|价位|最多(?:能)?花|不超过|控制在)(?:大概|大约|差不多|只有|就|在|是|有|[:\s]){0,4}"
    r"[0-9.一二两三四五六七八九十百千万wWkK块元~\-到至～]{1,20}(?:左右|上下|以内|以下|之内|以上)?"
)
_ALLERGENS = re.compile(r"[和、及与跟,，/]|以及")
_ALLERGEN_USE = re.compile(r"^(?:之前|以前|上次|去年|前年|曾经|小时候)?(?:打|用|做|吃|涂|擦|抹|接触)[了过完]?(?=..)")


def _after_colon(fact: str) -> str:
    return re.split(r"[：:]", fact, maxsplit=1)[1]


def _facts(texts: list[str]) -> dict[str, list[str]]:
    """Fact texts by kind, each once, in order. A memory that is a fact line (``过敏：对酒精过敏``, as memory stores
    them, or ``预算：控制在五千以内`` written by hand) gives what its rest says, else the line as it is."""
    found: dict[str, dict[str, None]] = {kind: {} for kind in _FACT_KINDS.values()}
    for text in texts:
        if line := _FACT_LINE.match(text):
            kind = _FACT_KINDS[line[1]]
            facts = [(kind, fact.text) for fact in extract_facts(text[line.end():]) if fact.kind == kind] or [(kind, text)]
        else:
            spans = _BUDGET_SPAN.findall(text)[:BUDGET_SPANS]
            facts = [(fact.kind, fact.text) for fact in extract_facts(text)]
            facts += [(fact.kind, fact.text) for span in spans for fact in extract_facts(span) if fact.kind == "budget"]
        for kind, fact in facts:
            if kind in found:
                found[kind].setdefault(fact)
    return {kind: list(texts) for kind, texts in found.items()}


def _allergies(facts: list[str]) -> list[str]:
    """过敏：对海鲜和芒果过敏 → 海鲜, 芒果; 过敏：过敏体质 → 过敏体质."""
    allergens = []
    for fact in facts:
        what = _after_colon(fact)
        inner = re.fullmatch(r"对(.+)过敏", what)
        allergens += [part.strip() for part in _ALLERGENS.split(inner[1])] if inner else [what]
    allergens = [_ALLERGEN_USE.sub("", allergen) for allergen in allergens]  # 之前打肉毒素 → 肉毒素; 打针 stays
    return list(dict.fromkeys(allergen for allergen in allergens if allergen))[:MAX_ITEMS]


def budget_range(fact: str, tolerance: float) -> BudgetRange | None:
    """``预算：5000元左右`` → 4000–6000 (at 20 %); ``以内`` has no minimum, ``以上`` no maximum."""
    match = _BUDGET.match(fact)
    if match is None:
        return None
    text = _after_colon(fact)
    if match["unlimited"]:
        return BudgetRange(text=text)
    low = float(match["low"])
    if match["high"]:
        return BudgetRange(min_cny=low, max_cny=float(match["high"]), text=text)
    bounds = {"左右": (low * (1 - tolerance), low * (1 + tolerance)), "以内": (None, low), "以上": (low, None)}
    minimum, maximum = bounds.get(match["qualifier"] or "", (low, low))
    return BudgetRange(min_cny=minimum, max_cny=maximum, text=text)


def _concerns(rules: Rules, texts: list[str]) -> list[str]:
    return list(dict.fromkeys(name for text in texts for start, name in rules.concerns.find(text) if not rules.negated(text, start)))


def _objections(rules: Rules, texts: list[str]) -> list[str]:
    """The objections raised and not negated in ``texts``, in the config's order."""
    return [
        name for name, pattern in rules.objections.items()
        if any(not rules.negated(text, match.start()) for text in texts for match in pattern.finditer(text))
    ]


def _services(file: CustomerFile, texts: list[str]) -> list[str]:
    terms = catalog_terms(tuple((service.name, tuple(service.aliases)) for service in file.catalog))
    mentioned = [name for text in texts for _, name in terms.find(text.casefold())]
    return list(dict.fromkeys([*file.customer.services, *mentioned]))[:MAX_ITEMS]


def _declined(rules: Rules, said: list[str], now: datetime | None) -> bool:
    """One of the latest messages says no (不用了, 算了) and neither it nor a later one books (不用了，我明天过来)."""
    latest = said[-rules.config.limits.decline_messages:]
    at = next((index for index in reversed(range(len(latest))) if rules.declined.search(latest[index])), None)
    return at is not None and all(detect_intent(IntentInput(text=text, now=now)).strength != "strong" for text in latest[at:])


def _sentiment(lexicon: Lexicon, said: list[str], count: int) -> SentimentLabel:
    """The mood of the latest of the last ``count`` messages that shows one (好的 after a complaint keeps it)."""
    for text in reversed(said[-count:]):
        label = analyse_offline(lexicon, text).label
        if label != "neutral":
            return label
    return "neutral"


def _stage(customer: CustomerProfile, strength: Strength, timed: bool, user_messages: int) -> Stage:
    if customer.is_converted:
        return "after_sales"
    if strength == "strong" or timed:
        return "decision"
    return "first_contact" if user_messages <= 1 else "consideration"


def _lead(config: LeadConfig, insight: CustomerInsight, timed: bool, declined: bool, user_messages: int, converted: bool) -> LeadScore:
    """The base plus every weight that applies, clamped to 0–100, with one reason per weight."""
    weights = config.weights
    named: list[tuple[WeightName, bool]] = [
        ("converted", converted),
        ("intent_strong", insight.intent_strength == "strong"),
        ("intent_weak", insight.intent_strength == "weak"),
        ("appointment_time", timed),
        ("budget", insight.budget is not None),
        ("interested_service", bool(insight.interested_services)),
        ("engaged", user_messages >= config.engaged_min_messages),
        ("positive", insight.sentiment == "positive"),
        ("negative", insight.sentiment == "negative"),
    ]
    applies = [(config.base, ""), *((weights[name], "") for name, holds in named if holds)]
    applies += [(weights["objection"], f"：{name}") for name in insight.objections[: config.max_objections]]
    applies += [(weights["declined"], "")] if declined else []
    total = sum(weight.points for weight, _ in applies)
    reasons = [f"{weight.reason}{detail} {weight.points:+d}" for weight, detail in applies if weight.points]
    return LeadScore(score=max(0, min(100, total)), reasons=reasons)


def _read(text: str, chars: int) -> str:
    """The first ``chars`` characters, normalised (full-width digits and letters as ASCII: ５０００ is 5000)."""
    return normalise(text[:chars])[:chars].strip()


def analyse(file: CustomerFile, rules: Rules, lexicon: Lexicon) -> Findings:
    limits = rules.config.limits
    user = [message for message in file.messages if message.role == "user"]
    said = [text for message in user[-limits.user_messages:] if (text := _read(message.content, limits.message_chars))]
    memories = [text for memory in file.memories[-limits.memories:] if (text := _read(memory, limits.memory_chars))]
    facts = _facts([*memories, *said])  # the messages are newer than the memories: their budget wins
    recent = said[-limits.intent_messages:]
    intent = detect_intent(IntentInput(text=recent[-1], history=recent[:-1], now=file.now)) if recent else None
    declined = _declined(rules, said, file.now)
    strength: Strength = "none" if intent is None or declined else intent.strength
    time_text = None
    if intent is not None and intent.time is not None and not declined:
        time_text = f"{intent.time.month}月{intent.time.day}日（{intent.time_text}）"
    budgets = [budget for fact in facts["budget"] if (budget := budget_range(fact, rules.config.budget.around_tolerance))]
    partial = CustomerInsight(
        skin_type="、".join(dict.fromkeys(_after_colon(fact) for fact in facts["skin_type"])) or None,
        concerns=_concerns(rules, [*memories, *said]),
        allergies=_allergies(facts["allergy"]),
        budget=budgets[-1] if budgets else None,
        treatments_done=list(dict.fromkeys(_after_colon(fact) for fact in facts["treatment"]))[:MAX_ITEMS],
        interested_services=_services(file, [*memories, *said]),
        journey_stage=_stage(file.customer, strength, time_text is not None, len(user)),
        intent_strength=strength,
        sentiment=_sentiment(lexicon, said, limits.sentiment_messages),
        objections=_objections(rules, said),
        lead=LeadScore(score=0),
    )
    lead = _lead(rules.config.lead, partial, time_text is not None, declined, len(user), file.customer.is_converted)
    return Findings(partial.model_copy(update={"lead": lead}), declined, time_text, bool(file.messages))
