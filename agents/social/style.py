"""Each platform's house style (``configs/social/platforms.yaml``), enforced on every text the Social agent returns:
a length limit per kind of text, at most so many emoji, hashtags only where the platform uses them.

``fit`` is the last step before the compliance check, for model drafts and offline text alike, so a contract
holds whoever wrote the text. Every pass is linear in the text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

Platform = Literal["rednote", "douyin", "moments"]
TextKind = Literal["comment", "reply", "chat", "moments", "beautify"]

# One emoji: a pictograph (or symbol) with its variation selector and skin tone, or several joined by ZWJ.
_EMOJI_CHAR = "[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF]"
EMOJI = re.compile(f"{_EMOJI_CHAR}[\ufe0f\U0001F3FB-\U0001F3FF]?(?:\u200d{_EMOJI_CHAR}[\ufe0f\U0001F3FB-\U0001F3FF]?){{0,6}}")
# A hashtag as the platforms write it: "#话题" or "#话题#" (小红书), up to the next space or punctuation.
HASHTAG = re.compile(r"#[^\s#，。！？、,.!?;；:：]{1,30}#?")
_SENTENCE_END = "。！？!?~～\n"
_CLAUSE_END = "，,；;、"
_SPACES = re.compile(r"[ \t]{2,}")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmojiRule(_Config):
    max: int = Field(ge=0, le=20)
    palette: list[str] = []


class HashtagRule(_Config):
    max: int = Field(ge=0, le=20)
    kinds: list[TextKind] = []


class PlatformStyle(_Config):
    name: str
    tone: str
    limits: dict[TextKind, int]
    emoji: EmojiRule
    hashtags: HashtagRule

    def limit(self, kind: TextKind) -> int:
        return self.limits[kind]

    def hashtags_allowed(self, kind: TextKind) -> int:
        return self.hashtags.max if kind in self.hashtags.kinds else 0

    def emoji_at(self, index: int) -> str:
        """A deterministic pick from the palette ("" when the platform uses none)."""
        palette = self.emoji.palette if self.emoji.max else []
        return palette[index % len(palette)] if palette else ""


class Styles(_Config):
    platforms: dict[Platform, PlatformStyle]

    @classmethod
    def load(cls, path: Path) -> Styles:
        with open(path, encoding="utf-8") as fh:
            styles = cls.model_validate(yaml.safe_load(fh))
        missing = set(Platform.__args__) - set(styles.platforms)
        if missing:
            raise ValueError(f"{path}: no style for {sorted(missing)}")
        return styles


def _keep_first(pattern: re.Pattern[str], text: str, keep: int) -> str:
    seen = 0

    def one(match: re.Match[str]) -> str:
        nonlocal seen
        seen += 1
        return match.group(0) if seen <= keep else ""

    return pattern.sub(one, text)


def _cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: up to the last sentence end, else clause end, that fits."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    for marks in (_SENTENCE_END, _CLAUSE_END):
        end = max(head.rfind(mark) for mark in marks)
        if end >= limit // 3:
            return head[: end + 1] if marks == _SENTENCE_END else head[:end] + "。"
    return head[: limit - 1] + "…"


def fit(text: str, style: PlatformStyle, kind: TextKind) -> str:
    """``text`` within the platform's rules for ``kind``: surplus hashtags and emoji dropped, then cut to the limit."""
    text = _keep_first(HASHTAG, text, style.hashtags_allowed(kind))
    text = _keep_first(EMOJI, text, style.emoji.max)
    text = _SPACES.sub(" ", text).strip()
    return _cut(text, style.limit(kind)).strip()


def counts(text: str) -> tuple[int, int]:
    """(emoji, hashtags) in ``text``."""
    return len(EMOJI.findall(text)), len(HASHTAG.findall(text))
