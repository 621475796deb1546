"""Test doubles for the Social agent: an LLM router that answers from a script, and the agent over the shipped configs."""

from __future__ import annotations

import json
from pathlib import Path

from agents.compliance import ComplianceAgent
from agents.social.agent import SocialAgent
from llm.types import LLMRequest, LLMResponse, Usage
from tests.config_paths import CONFIG_DIR

COMPLIANCE = ComplianceAgent.load(CONFIG_DIR / "compliance")


def offline() -> LLMResponse:
    """What the router answers when no real model is configured."""
    return LLMResponse(content="（离线）", model="offline", provider="offline", usage=Usage(), cost_usd=0, latency_ms=1,
                       offline=True)


def drafted(content: str = "", data: object = None) -> LLMResponse:
    """A real model's answer: text, or structured ``data``."""
    return LLMResponse(content=content or json.dumps(data, ensure_ascii=False), model="qwen", provider="upstream",
                       usage=Usage(input_tokens=100, output_tokens=20), cost_usd=0.0003, latency_ms=5, data=data)


class ScriptedRouter:
    """Answers each request with the next scripted response (the last one repeats) and records the requests."""

    def __init__(self, *script: LLMResponse) -> None:
        self.script = list(script) or [offline()]
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


def social_agent(*script: LLMResponse, config_dir: Path = CONFIG_DIR) -> tuple[SocialAgent, ScriptedRouter]:
    router = ScriptedRouter(*script)
    return SocialAgent(router, COMPLIANCE, config_dir), router  # type: ignore[arg-type]
