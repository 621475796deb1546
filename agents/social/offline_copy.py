"""The Social agent's offline writer: deterministic Chinese copy from the templates' phrase banks, the post or message,
the brand's terms and the customer's facts, for when no model is configured (and as the last resort after a model's
drafts failed the checks). The same input always gives the same text: choices are made by a hash of the input.

Nothing here is checked yet: every text goes through ``fit`` and output compliance like a model's draft.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Sequence
from typing import Literal

from agents.social.style import EMOJI, HASHTAG, Platform, PlatformStyle
from agents.social.templates import OfflineBanks, fill

ReplyKind = Literal["positive", "price", "cases", "address", "booking", "negative", "question", "neutral"]
QUESTION = re.compile(r"[?？]|[吗呢嘛么][\s~～。!！]*$|怎么|多少|能不能|可不可以|是不是|有没有|哪里|哪儿|什么|几天|多久")
# Leading words of a product prompt's phrase that are not part of the term: "主打水光针" is about "水光针".
_PHRASE_LEAD = re.compile(r"^(?:我们是|我们的|我们|本店|品牌|主打|专注于?|专业|提供|擅长|推出|新品|热门|经营|做)")
_PHRASE_BREAK = re.compile(r"[\s，,。.!！?？、;；:：/|()（）【】\[\]「」“”\"'…~～]+|(?:以及|还有|和|与|及|或)")
_FILLER = re.compile(r"非常|真的|其实|就是|然后|这个|那个|一下|有点|特别|真心|简直|超级|的话")
_SENTENCES = re.compile(r"[^。！？!?\n]+[。！？!?\n]*")


def pick(options: Sequence[str], *keys: object) -> str:
    """One of ``options``, chosen by the keys (stable across processes, unlike ``hash``)."""
    return options[zlib.crc32("\x1f".join(map(str, keys)).encode()) % len(options)] if options else ""


def prompt_terms(product_prompt: str) -> list[str]:
    """The product prompt's phrases as search terms (2 to 12 characters), in order, each once."""
    terms: dict[str, None] = {}
    for phrase in _PHRASE_BREAK.split(product_prompt[:5000]):
        term = _PHRASE_LEAD.sub("", phrase.strip())
        if 2 <= len(term) <= 12:
            terms.setdefault(term)
    return list(terms)


def normalised(text: str) -> str:
    """What two texts must differ in to count as different: not case, spaces, punctuation, emoji or hashtags."""
    return re.sub(r"[\W_]+", "", EMOJI.sub("", HASHTAG.sub("", text)).lower())


def comment(banks: OfflineBanks, platform: Platform, post: str, terms: Sequence[str]) -> str:
    bank = banks.comment
    opener = pick(bank.openers.get(platform) or bank.openers["rednote"], post)
    if terms:
        return opener + fill(pick(bank.with_term, post, "body"), term=terms[0])
    return opener + pick(bank.without_term, post, "body")


def reply(banks: OfflineBanks, style: PlatformStyle, text: str, kind: ReplyKind) -> str:
    return fill(pick(getattr(banks.reply, kind), text), emoji=style.emoji_at(zlib.crc32(text.encode())))


def chat(banks: OfflineBanks, style: PlatformStyle, text: str, kind: ReplyKind, terms: Sequence[str]) -> str:
    about = f"关于{terms[0]}，" if terms and kind in ("question", "price", "cases", "booking") else ""
    body = reply(banks, style, text, kind)
    return banks.chat.greeting + about + body + banks.chat.closing


FACT_ORDER = ("treatment", "allergy", "skin_type")


def moment(banks: OfflineBanks, style: PlatformStyle, content: str, photos: int, facts: Sequence[tuple[str, str]]
           ) -> tuple[str, bool]:
    """A comment on a customer's moment, with a personal touch from their facts when there are some."""
    bank = banks.moments
    seed = f"{content}{photos}"
    line = fill(pick(bank.content if content.strip() else bank.photos, seed), emoji=style.emoji_at(len(seed)))
    for kind in FACT_ORDER:
        for fact_kind, text in facts:
            touch = bank.touches.get(kind, "")
            if fact_kind == kind and touch:
                return line + fill(touch, fact=text.split("：", 1)[-1]), True
    return line + bank.touches.get("generic", ""), False


def keyword_candidates(banks: OfflineBanks, terms: Sequence[str]) -> Iterator[str]:
    """Keywords from the brand's terms with every modifier, then the generic ones, then those with modifiers."""
    bank = banks.keywords
    for modifier in bank.modifiers:
        for term in terms:
            yield fill(modifier, term=term)
    yield from bank.generic
    for modifier in bank.modifiers[1:]:
        for term in bank.generic:
            yield fill(modifier, term=term)


def keywords_summary(banks: OfflineBanks, terms: Sequence[str], count: int) -> str:
    return fill(banks.keywords.summary, terms="、".join(terms[:3]) or "品牌与护肤", count=count)


def compressions(banks: OfflineBanks, source: str) -> Iterator[str]:
    """Shorter versions of ``source``: fillers dropped, the leading sentences kept, under different lead-ins,
    then cuts at ever shorter lengths (distinct by length, so there are always enough)."""
    lean = _FILLER.sub("", source)
    sentences = _SENTENCES.findall(lean) or [lean]
    for lead in banks.beautify.compress_leads:
        for keep in range(len(sentences), 0, -1):
            yield lead + "".join(sentences[:keep]).strip()
    for share in range(95, 20, -5):
        size = len(source) * share // 100
        yield source[:size].rstrip("，,、；;：: ") + "…"


def expansions(banks: OfflineBanks, style: PlatformStyle, source: str, terms: Sequence[str]) -> Iterator[str]:
    """Longer versions of ``source``: an opener, a lead-in, the text, a closer, and the platform's hashtags."""
    bank = banks.beautify
    tags = "".join(f" #{term}" for term in terms[: style.hashtags_allowed("beautify")])
    for closer in bank.expand_closers:
        for opener in bank.expand_openers:
            middle = pick(bank.expand_middles, opener, closer)
            yield f"{opener}{middle}{source.strip()}\n{closer}{tags}"


def plan(banks: OfflineBanks, topic: str) -> tuple[str, list[str]]:
    return fill(banks.plan.response, topic=topic), [fill(option, topic=topic) for option in banks.plan.options[:3]]


def outreach(banks: OfflineBanks, name: str | None, services: Sequence[str], concerns: Sequence[str]) -> str:
    """A re-engagement message from what is known of the customer: a service they looked at, else a concern."""
    bank = banks.campaign
    body = (fill(bank.service, service=services[0]) if services else
            fill(bank.concern, concern=concerns[0]) if concerns else bank.generic)
    return fill(bank.greeting, name=name or "") + body
