"""The customer analysis's configuration (``social/analysis.yaml``) checked as a whole, and compiled into the rules the
offline analysis reads with: word tables and patterns, each linear-time (the compliance packs' check)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from agents.intent import Strength
from agents.regex_safety import superlinear
from agents.sales import Stage
from agents.sentiment import SentimentLabel, trie_regex

TAG_CHARS, MIN_TAGS, MAX_TAGS = 8, 3, 5
MAX_TERM_CHARS = 50  # longer catalog names are not matched (no customer types them)


# ---- the config ------------------------------------------------------------------------------------------------

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TAG_CHARS)]
Text = Annotated[str, StringConstraints(min_length=1)]
WeightName = Literal[
    "intent_strong", "intent_weak", "appointment_time", "budget", "interested_service", "engaged", "positive", "negative",
    "objection", "declined", "converted",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _every(keys: Any) -> AfterValidator:
    """A table keyed by a Literal names every value: a missing stage would fail a customer later, not the load."""

    def check(table: dict[str, Any]) -> dict[str, Any]:
        if missing := [key for key in get_args(keys) if key not in table]:
            raise ValueError(f"lacks {', '.join(missing)}")
        return table

    return AfterValidator(check)


class Limits(_Strict):
    user_messages: int = Field(ge=1, le=500)
    message_chars: int = Field(ge=1, le=5000)  # the intent agent reads at most 5,000
    memories: int = Field(ge=0, le=200)
    memory_chars: int = Field(ge=1, le=20_000)
    intent_messages: int = Field(ge=1, le=50)
    sentiment_messages: int = Field(ge=1, le=50)
    decline_messages: int = Field(ge=1, le=50)
    prompt_messages: int = Field(ge=1, le=500)
    prompt_message_chars: int = Field(ge=1, le=20_000)
    prompt_memories: int = Field(ge=0, le=200)


class Band(_Strict):
    below: float | None
    label: Tag


class BudgetConfig(_Strict):
    around_tolerance: float = Field(ge=0, lt=1)
    unlimited_label: Tag
    bands: list[Band] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> BudgetConfig:
        limits = [band.below for band in self.bands]
        if limits[-1] is not None or None in limits[:-1] or limits[:-1] != sorted(limits[:-1]):  # type: ignore[type-var]
            raise ValueError("budget bands must rise, the last one with below: null")
        return self


class Tags(_Strict):
    stage: Annotated[dict[Stage, Tag], _every(Stage)]
    declined: Tag
    allergy: Tag
    intent: Annotated[dict[Strength, Tag], _every(Strength)]
    sentiment: Annotated[dict[SentimentLabel, Tag], _every(SentimentLabel)]

    @model_validator(mode="after")
    def _fillers_differ(self) -> Tags:
        """The stage, intent and mood tags fill a short list up to three: they must never coincide."""
        groups = [{*self.stage.values(), self.declined}, set(self.intent.values()), set(self.sentiment.values())]
        if len(set().union(*groups)) != sum(map(len, groups)):
            raise ValueError("the stage, intent and sentiment tags must all differ")
        return self


class NextSteps(_Strict):
    first_contact: Text
    consideration: Text
    decision: Text
    decision_with_time: Text
    after_sales: Text
    declined: Text
    negative: Text
    allergy: Text
    objections: dict[str, Text]


class ReportConfig(_Strict):
    no_conversation: Text
    empty: Text
    worries: list[str] = Field(description="Objections reported under 顾虑 rather than 异议.")
    stage_names: Annotated[dict[Stage, Text], _every(Stage)]
    intent_names: Annotated[dict[Strength, Text], _every(Strength)]
    sentiment_names: Annotated[dict[SentimentLabel, Text], _every(SentimentLabel)]
    next_steps: NextSteps


class Weight(_Strict):
    points: int = Field(ge=-100, le=100)
    reason: Text


class LeadConfig(_Strict):
    base: Weight
    engaged_min_messages: int = Field(ge=1)
    max_objections: int = Field(ge=0)
    weights: Annotated[dict[WeightName, Weight], _every(WeightName)]


class Prompts(_Strict):
    profile_max_tokens: int = Field(ge=1)
    report_max_tokens: int = Field(ge=1)
    labels_max_tokens: int = Field(ge=1)
    profile_system: Text
    report_system: Text
    labels_system: Text
    user: Text


class AnalysisConfig(_Strict):
    limits: Limits
    negation: Text
    negation_window: int = Field(ge=1, le=10)
    concerns: dict[Tag, list[Text]]
    objections: dict[Tag, list[Text]]
    declined: list[Text] = Field(min_length=1)
    budget: BudgetConfig
    tags: Tags
    report: ReportConfig
    lead: LeadConfig
    prompts: Prompts

    @model_validator(mode="after")
    def _steps_for_every_objection(self) -> AnalysisConfig:
        if set(self.objections) != set(self.report.next_steps.objections) or not set(self.report.worries) <= set(self.objections):
            raise ValueError("every objection needs one next step (and report.worries must name objections)")
        return self


# ---- matching --------------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


@dataclass(frozen=True)
class Terms:
    """Literal terms, each standing for a name (a synonym for its canonical concern, an alias for its service).

    One trie regex per first character: a single one for a large catalog tries its thousands of first characters one
    by one at every position; here a position costs a dict look-up and a match over the few that can follow."""

    by_first: dict[str, re.Pattern[str]]
    names: dict[str, str]

    @classmethod
    def of(cls, names: dict[str, str]) -> Terms:
        names = {term: name for term, name in names.items() if 0 < len(term) <= MAX_TERM_CHARS}
        groups: dict[str, list[str]] = {}
        for term in names:
            groups.setdefault(term[0], []).append(term)
        return cls({first: re.compile(trie_regex(terms)) for first, terms in groups.items()}, names)

    def find(self, text: str) -> list[tuple[int, str]]:
        """(start, name) of each term in ``text``, the longest where several start at one position."""
        found, at = [], 0
        while at < len(text):
            pattern = self.by_first.get(text[at])
            match = pattern.match(text, at) if pattern else None
            if match:
                found.append((at, self.names[match.group()]))
                at = match.end()
            else:
                at += 1
        return found


@lru_cache(maxsize=16)
def catalog_terms(catalog: tuple[tuple[str, tuple[str, ...]], ...]) -> Terms:
    """A term two services share names the first one (and a service's own name beats an alias of it)."""
    return Terms.of({normalise(term).casefold(): name for name, aliases in reversed(catalog) for term in (*aliases, name)})


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = re.compile(pattern)
    if slow := superlinear(compiled):  # the rules run on 2,000-character messages
        raise ValueError(f"{slow} in {pattern!r}")
    return compiled


@dataclass(frozen=True)
class Rules:
    """The config with its word lists compiled."""

    config: AnalysisConfig
    negation: re.Pattern[str]
    concerns: Terms
    objections: dict[str, re.Pattern[str]]
    declined: re.Pattern[str]

    def negated(self, text: str, start: int) -> bool:
        """不长痘, 不太贵: the words just before ``start``, in the same clause, negate what starts there."""
        before = re.split(r"[，,。.！!？?；;\n]", text[max(0, start - self.config.negation_window): start])[-1]
        return bool(self.negation.search(before))


def load_rules(path: Path) -> Rules:
    try:
        with open(path, encoding="utf-8") as fh:
            config = AnalysisConfig.model_validate(yaml.safe_load(fh))
        return Rules(
            config=config,
            negation=_compiled(config.negation),
            concerns=Terms.of({normalise(word): name for name, words in config.concerns.items() for word in words}),
            objections={name: _compiled("|".join(f"(?:{p})" for p in patterns)) for name, patterns in config.objections.items()},
            declined=_compiled("|".join(f"(?:{p})" for p in config.declined)),
        )
    except (OSError, yaml.YAMLError, ValidationError, re.error, ValueError) as exc:
        raise ValueError(f"invalid customer analysis config {path}: {exc}") from exc


