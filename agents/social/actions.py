"""Which actions (1 关注 2 点赞 3 评论 4 分享 5 收藏 6 主页) the brand's account takes on a post or a comment.

A policy a brand can read and tune (``configs/social/actions.yaml``, and per request ``policy`` overrides): scores
computed from the text and the post's counts, then rules over the scores. Nothing is random: the same input gives
the same decision, and the decision lists the scores and the rule behind each action.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from agents.bounds import JSON_INT, NOT_BOOL
from agents.social.style import Platform

Action = Annotated[Literal[1, 2, 3, 4, 5, 6], NOT_BOOL]
ACTION_NAMES: dict[int, str] = {1: "关注", 2: "点赞", 3: "评论", 4: "分享", 5: "收藏", 6: "主页"}
MAX_TERM_CHARS = 12
MAX_MATCHED_TERMS = 50


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Rule(_Config):
    """An action, taken when every threshold it sets is met."""

    action: Action
    relevance_min: float = Field(default=0.0, ge=0, le=1)
    engagement_min: float = Field(default=0.0, ge=0, le=1)
    intent_min: float = Field(default=0.0, ge=0, le=1)


class Relevance(_Config):
    terms_for_full: Annotated[int, Field(ge=1, le=50), JSON_INT] = 3


class Engagement(_Config):
    weights: dict[Literal["likes_num", "replies_num", "favorite_num", "forward_num"], Annotated[float, Field(ge=0, le=1000)]] = Field(
        default={"likes_num": 1, "replies_num": 3, "favorite_num": 2, "forward_num": 4})
    full_at: float = Field(default=20000, ge=1, le=1e12)


class Negative(_Config):
    skip: list[Action] = Field(default=[1, 2, 4, 5], max_length=6)


class PlatformActions(_Config):
    allowed: list[Action] = Field(max_length=6)


class ActionPolicy(_Config):
    relevance: Relevance = Relevance()
    engagement: Engagement = Engagement()
    negative: Negative = Negative()
    comment: list[Rule] = Field(max_length=12)
    reply: list[Rule] = Field(max_length=12)
    platforms: dict[Platform, PlatformActions]

    @classmethod
    def load(cls, path: Path) -> ActionPolicy:
        with open(path, encoding="utf-8") as fh:
            return cls.model_validate(yaml.safe_load(fh), strict=False)

    def tuned(self, overrides: PolicyOverrides | None) -> ActionPolicy:
        """This policy with a request's overrides on top (each given section replaces the default's)."""
        if overrides is None:
            return self
        given = {name: getattr(overrides, name) for name in overrides.model_fields_set}
        return self.model_copy(update={name: value for name, value in given.items() if value is not None})


class PolicyOverrides(_Config):
    """What a request may tune of the policy; a section given replaces the default one."""

    relevance: Relevance | None = None
    engagement: Engagement | None = None
    negative: Negative | None = None
    comment: list[Rule] | None = Field(default=None, max_length=12)
    reply: list[Rule] | None = Field(default=None, max_length=12)


class Signals(BaseModel):
    """What a decision was made from."""

    relevance: float
    engagement: float
    intent: float
    negative: bool
    blocked: bool
    matched_terms: list[str] = []


class Decision(BaseModel):
    actions: list[Action]
    signals: Signals
    reasons: list[str]


def brand_terms(phrases: Iterable[str]) -> frozenset[str]:
    """The terms a text is matched against: the phrases of the brand's catalog and prompt, 2 to 12 characters."""
    return frozenset(term for phrase in phrases if 2 <= len(term := phrase.strip().lower()) <= MAX_TERM_CHARS)


def mentioned(text: str, terms: frozenset[str]) -> list[str]:
    """The distinct brand terms ``text`` mentions, in order of appearance; linear in the text (every substring of
    up to MAX_TERM_CHARS characters is looked up once), whatever the number of terms."""
    text = text.lower()
    found: dict[str, None] = {}
    for start in range(len(text)):
        for end in range(start + 2, min(start + MAX_TERM_CHARS, len(text)) + 1):
            if text[start:end] in terms:
                found.setdefault(text[start:end])
        if len(found) >= MAX_MATCHED_TERMS:
            break
    # A term inside a longer one found at the same place ("玻尿酸" in "玻尿酸填充") counts once, as the longer.
    return [term for term in found if not any(term != other and term in other for other in found)]


def engagement(policy: ActionPolicy, counts: dict[str, int]) -> float:
    weighted = sum(policy.engagement.weights.get(name, 0.0) * max(count, 0) for name, count in counts.items())
    return min(1.0, math.log10(1 + weighted) / math.log10(1 + policy.engagement.full_at))


def decide(policy: ActionPolicy, kind: Literal["comment", "reply"], platform: Platform, signals: Signals) -> Decision:
    allowed = set(policy.platforms[platform].allowed)
    if signals.blocked:
        return Decision(actions=[], signals=signals, reasons=["输入审核拦截（辱骂、违法等）：不互动"])
    actions: list[Action] = []
    reasons = []
    for rule in getattr(policy, kind):
        action, name = rule.action, ACTION_NAMES[rule.action]
        if action in actions or action not in allowed:
            continue
        if signals.negative and action in policy.negative.skip:
            reasons.append(f"{name}：负面内容不{name}")
            continue
        if (signals.relevance >= rule.relevance_min and signals.engagement >= rule.engagement_min
                and signals.intent >= rule.intent_min):
            actions.append(action)
            met = [f"{label}{value:.2f}≥{least:g}" for label, value, least in (
                ("相关度", signals.relevance, rule.relevance_min), ("互动热度", signals.engagement, rule.engagement_min),
                ("意向", signals.intent, rule.intent_min)) if least > 0]
            reasons.append(f"{name}：" + ("，".join(met) if met else "无门槛，默认执行"))
    return Decision(actions=sorted(actions), signals=signals, reasons=reasons)
