"""Summaries of messages that left the conversation window, written through the LLM router when a real model answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from agents.ports import LLMClient
from llm.types import ChatMessage, LLMRequest
from memory.types import TurnMessage

SUMMARY_ALIAS = "fast"
SUMMARY_PROMPT = (
    "你是医美/美妆顾问的助理。把下面这段客户对话总结成不超过150字的客户档案要点："
    "需求、顾虑、预算、肤质、过敏与禁忌、做过的项目、约定的时间。只写对话中出现的事实，不要推测，不要营销用语。"
)
_ROLE_NAMES = {"user": "客户", "assistant": "顾问", "system": "系统"}


class NoSummaryModel(RuntimeError):
    """No real model answered (only the offline provider is routed): memory falls back to its extractive summary."""


def summarise_with(llm: LLMClient) -> Callable[[list[TurnMessage]], Awaitable[str]]:
    async def summarise(messages: list[TurnMessage]) -> str:
        transcript = "\n".join(f"{_ROLE_NAMES[m.role]}：{m.content}" for m in messages)
        request = LLMRequest(model=SUMMARY_ALIAS, system=SUMMARY_PROMPT, messages=[ChatMessage(role="user", content=transcript)], max_tokens=300)
        response = await llm.complete(request)
        if response.offline:
            raise NoSummaryModel("no LLM is routed for summaries")
        return response.content.strip()

    return summarise
