"""The Social agent's configuration as one reloadable unit: templates, platform styles and the action policy.

``SocialConfig.load`` reads and checks every file of ``configs/social/`` together, so a reload either takes a whole
consistent new version or, when any file is wrong, raises and leaves the running one as it was.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from agents.social.actions import ActionPolicy
from agents.social.style import Platform, Styles

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
FILES = ("templates.yaml", "platforms.yaml", "actions.yaml")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LLMTemplates(_Config):
    system: str
    comment: str
    reply: str
    chat: str
    moments: str
    keywords: str
    beautify: str
    campaign: str
    plan: str


class CommentBank(_Config):
    openers: dict[Platform, list[str]]
    with_term: list[str]
    without_term: list[str]


class ReplyBank(_Config):
    positive: list[str]
    price: list[str]
    cases: list[str]
    address: list[str]
    booking: list[str]
    negative: list[str]
    question: list[str]
    neutral: list[str]


class ChatBank(_Config):
    greeting: str
    closing: str


class MomentsBank(_Config):
    content: list[str]
    photos: list[str]
    touches: dict[str, str]


class KeywordsBank(_Config):
    modifiers: list[str]
    generic: list[str]
    summary: str


class BeautifyBank(_Config):
    compress_leads: list[str]
    expand_openers: list[str]
    expand_closers: list[str]
    expand_middles: list[str]


class CampaignBank(_Config):
    greeting: str
    service: str
    concern: str
    generic: str


class PlanBank(_Config):
    response: str
    options: list[str]


class OfflineBanks(_Config):
    comment: CommentBank
    reply: ReplyBank
    chat: ChatBank
    moments: MomentsBank
    keywords: KeywordsBank
    beautify: BeautifyBank
    campaign: CampaignBank
    plan: PlanBank


class Templates(_Config):
    llm: LLMTemplates
    offline: OfflineBanks


@dataclass(frozen=True)
class SocialConfig:
    templates: Templates
    styles: Styles
    policy: ActionPolicy
    version: str

    @classmethod
    def load(cls, directory: Path) -> SocialConfig:
        """Every file of ``directory`` (the config dir's ``social``), checked; ValueError names what is wrong."""
        try:
            raw = {name: (directory / name).read_bytes() for name in FILES}
            with open(directory / "templates.yaml", encoding="utf-8") as fh:
                templates = Templates.model_validate(yaml.safe_load(fh))
            config = cls(templates, Styles.load(directory / "platforms.yaml"), ActionPolicy.load(directory / "actions.yaml"),
                         hashlib.sha256(b"\0".join(raw[name] for name in FILES)).hexdigest()[:12])
        except (OSError, yaml.YAMLError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            raise ValueError(f"social templates in {directory}: {exc}") from exc
        if not config.templates.offline.keywords.generic or len(config.templates.offline.plan.options) < 3:
            raise ValueError(f"{directory / 'templates.yaml'}: offline keywords need generic terms, plans 3 options")
        return config


def fill(template: str, **values: object) -> str:
    """``template`` with its ``{name}`` placeholders filled; unknown names are left as written."""
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)
