"""The extractive summary of messages that left the window: used when no LLM summariser is given or it fails."""

from __future__ import annotations

import re

from memory.facts import extract_facts
from memory.tokens import query_terms
from memory.types import TurnMessage

MAX_SUMMARY_CHARS = 240
_SPEAKERS = {"user": "客户", "assistant": "顾问"}
_SENTENCE = re.compile(r"[^。！!？?；;\n]+[。！!？?]?")
# Courtesy carries no information about the customer.
_SMALL_TALK = set(
    query_terms("你好 您好 在吗 谢谢 感谢 好的 嗯嗯 哈哈 没问题 再见 拜拜 请问有什么可以帮您 了解一下 那个 这个 我们 你们")
)


def _informative_terms(sentence: str) -> int:
    terms = set(query_terms(sentence)) - _SMALL_TALK
    return len(terms) + (2 if re.search(r"\d", sentence) else 0)


def extractive_summary(messages: list[TurnMessage], max_chars: int = MAX_SUMMARY_CHARS) -> str:
    """The customer's facts first, then the most informative sentences in conversation order, labelled
    by speaker, within ``max_chars``."""
    facts: dict[str, None] = {}
    candidates: list[tuple[int, int, str]] = []  # (score, position, labelled sentence)
    for message in messages:
        speaker = _SPEAKERS.get(message.role)
        if speaker is None:
            continue
        for sentence in _SENTENCE.findall(message.content):
            sentence = sentence.strip().rstrip("。.")
            found = extract_facts(sentence) if message.role == "user" else []
            facts.update((fact.text, None) for fact in found)
            score = _informative_terms(sentence)
            if not found and score >= 3:
                candidates.append((score, len(candidates), f"{speaker}：{sentence}"))
    parts, used = list(facts), sum(len(fact) + 1 for fact in facts)
    chosen: list[tuple[int, str]] = []
    for score, position, sentence in sorted(candidates, key=lambda candidate: (-candidate[0], candidate[1])):
        if used + len(sentence) + 1 <= max_chars:
            chosen.append((position, sentence))
            used += len(sentence) + 1
    parts.extend(sentence for _, sentence in sorted(chosen))
    summary = "；".join(parts)
    if not summary and candidates:  # one very long sentence: cut it
        summary = min(candidates)[2]
    return summary[:max_chars]
