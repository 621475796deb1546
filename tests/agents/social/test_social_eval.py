"""The evaluation set (``tests/agents/data/social_eval.jsonl``, 46 requests across endpoints and platforms), run with
no model (offline writer) and with a model whose every draft breaks the rules: no output may violate output
compliance, and every length and count contract holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.social.agent import SocialAgent
from agents.social.models import (
    BeautifyRequest,
    Brand,
    ChatRequest,
    CommentRequest,
    KeywordsRequest,
    MomentCustomer,
    MomentsRequest,
    PlanRequest,
    ReplyRequest,
)
from agents.social.offline_copy import normalised
from agents.social.style import Styles, counts
from llm.types import LLMRequest, LLMResponse
from tests.agents.social.doubles import COMPLIANCE, drafted, offline, social_agent
from tests.config_paths import CONFIG_DIR

CASES = [json.loads(line) for line in (Path(__file__).parents[1] / "data" / "social_eval.jsonl").read_text("utf-8").splitlines()]
STYLES = Styles.load(CONFIG_DIR / "social" / "platforms.yaml").platforms
BRAND = Brand(tenant_id="eval", terms=["水光针", "热玛吉", "皮秒", "光子嫩肤", "修护精华", "氨基酸洁面", "敏感肌"],
              products=["水光针", "热玛吉", "修护精华"])
CUSTOMERS = {"th-1": MomentCustomer(name="王女士", facts=[("allergy", "过敏：对酒精过敏"), ("treatment", "做过：水光针")])}
VIOLATING = "我们的水光针全国第一，保证一次见效、永久无副作用，明星都在做！加我微信vx888666详聊，扫码领券。"


def violating_model(request: LLMRequest) -> LLMResponse:
    """A model that breaks every rule, in the shape each request asks for."""
    properties = (request.json_schema or {}).get("properties", {})
    if "variants" in properties:
        return drafted(data={"variants": [VIOLATING] * properties["variants"]["maxItems"]})
    if "keywords" in properties:
        return drafted(data={"keywords": ["全国第一水光针", "加微信领券", "永久脱毛", "水光针"], "summary": VIOLATING})
    if "options" in properties:
        return drafted(data={"response": VIOLATING, "options": [VIOLATING, "明星同款，效果保证", VIOLATING]})
    return drafted(VIOLATING)


class ViolatingRouter:
    async def complete(self, request: LLMRequest) -> LLMResponse:
        return violating_model(request)


def agents() -> dict[str, SocialAgent]:
    return {"offline": social_agent(offline())[0], "violating": SocialAgent(ViolatingRouter(), COMPLIANCE, CONFIG_DIR)}  # type: ignore[arg-type]


def published(text: str, platform: str, kind: str, channel: str = "social") -> None:
    """The text passes output compliance and the platform's rules for its kind."""
    style = STYLES[platform]  # type: ignore[index]
    emoji, hashtags = counts(text)
    assert text.strip() and COMPLIANCE.approves(text, channel), text  # type: ignore[arg-type]
    assert len(text) <= style.limit(kind) and emoji <= style.emoji.max and hashtags <= style.hashtags_allowed(kind), text  # type: ignore[arg-type]


async def run_case(agent: SocialAgent, endpoint: str, body: dict[str, Any]) -> None:
    platform = body.get("platform", "rednote")
    if endpoint == "comment":
        result = await agent.comment(CommentRequest.model_validate(body), BRAND)
        assert result.actions == sorted(set(result.actions))
        if result.message is not None:
            published(result.message, platform, "comment")
    elif endpoint == "reply":
        replies = await agent.reply(ReplyRequest.model_validate(body), BRAND)
        assert [task.id for task in replies.tasks] == [task["id"] for task in body["task_list"]]
        for task in replies.tasks:
            if task.message is not None:
                published(task.message, platform, "reply")
    elif endpoint == "chat":
        published((await agent.chat(ChatRequest.model_validate(body), BRAND)).message, platform, "chat")
    elif endpoint == "keywords":
        keywords = (await agent.keywords(KeywordsRequest.model_validate(body), BRAND)).keywords
        keys = [normalised(k) for k in keywords]
        assert len(keywords) == body["expecting_count"] == len(set(keys))
        assert not set(keys) & {normalised(k) for k in body.get("existing_keywords", [])}
        assert all(2 <= len(k) <= 20 and COMPLIANCE.approves(k, "social") for k in keywords), keywords
    elif endpoint == "moments":
        moments = await agent.moments(MomentsRequest.model_validate(body), BRAND, CUSTOMERS)
        assert [task.id for task in moments.tasks] == [task["id"] for task in body["task_list"]]
        for task in moments.tasks:
            published(task.message, "moments", "moments")
    elif endpoint == "beautify":
        variants = (await agent.beautify(BeautifyRequest.model_validate(body), BRAND)).response
        source = body["source_text"].strip()
        assert len(variants) == body["result_count"] == len({normalised(v) for v in variants})
        for variant in variants:
            assert (len(variant) < len(source)) if body["action_type"] == 1 else (len(variant) > len(source)), variant
            style = STYLES[platform]  # type: ignore[index]
            assert COMPLIANCE.approves(variant, "social") and counts(variant)[1] <= style.hashtags_allowed("beautify"), variant
    else:
        plan = await agent.plan(PlanRequest.model_validate(body), BRAND)
        assert plan.request_id == body.get("request_id", plan.request_id) and len({o.content for o in plan.options}) == 3
        assert all(COMPLIANCE.approves(text, "social") for text in [plan.response, *(o.content for o in plan.options)])


@pytest.mark.parametrize("mode", ["offline", "violating"])
async def test_no_output_violates_and_every_contract_holds(mode: str) -> None:
    assert len(CASES) >= 40 and {"comment", "reply", "chat", "keywords", "moments", "beautify", "plans"} <= {c["endpoint"] for c in CASES}
    agent = agents()[mode]
    failures = []
    for case in CASES:
        try:
            await run_case(agent, case["endpoint"], case["body"])
        except AssertionError as exc:
            failures.append(f"{case['endpoint']} ({case['note']}): {exc}")
    assert failures == []
