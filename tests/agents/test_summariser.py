"""Summaries of messages that left the window: written by a real model, refused when only the offline provider answers."""

from __future__ import annotations

import pytest

from agents.summariser import NoSummaryModel, summarise_with
from llm.router import Router
from llm.settings import LLMSettings
from llm.types import LLMRequest, LLMResponse, Usage
from memory.types import TurnMessage
from tests.config_paths import CONFIG_DIR

MESSAGES = [TurnMessage(role="user", content="我对玻尿酸过敏，预算五千左右"), TurnMessage(role="assistant", content="好的，记下了")]


class ModelAnswer:
    """Stands in for the router when a real model answers."""

    def __init__(self) -> None:
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        return LLMResponse(content=" 对玻尿酸过敏；预算五千。\n", model="gpt", provider="openai", usage=Usage(), cost_usd=0,
                           latency_ms=1)


async def test_a_real_model_writes_the_summary_of_the_transcript() -> None:
    llm = ModelAnswer()
    assert await summarise_with(llm)(MESSAGES) == "对玻尿酸过敏；预算五千。"
    assert "客户：我对玻尿酸过敏" in llm.requests[0].messages[0].content and llm.requests[0].model == "fast"


async def test_with_only_the_offline_provider_there_is_no_summary_model() -> None:
    router = Router.from_settings(LLMSettings(models_config=CONFIG_DIR / "models.yaml"), environ={})
    try:
        with pytest.raises(NoSummaryModel):
            await summarise_with(router)(MESSAGES)
    finally:
        await router.close()
