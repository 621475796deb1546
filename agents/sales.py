"""The Sales agent: the reply prompt for this turn, sent to the LLM router.

The prompt is assembled from the assistant's active prompt version, the
strategy for the customer's sentiment and journey stage, the recalled
memories, the retrieved products and the intent agent's guidance. When the
router says no real model answered (``offline``), the agent writes the reply
itself from the same findings (``agents.offline_reply``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from agents.compliance import ComplianceAgent
from agents.intent import IntentResult
from agents.offline_reply import ComposeContext, ComposeProduct, compose_reply, compose_suggestions
from agents.ports import LLMClient
from agents.product import ProductPick
from agents.prompt_config import LLMParameters, PromptConfig
from agents.sentiment import SentimentResult
from llm.tokens import estimate_tokens
from llm.types import ChatMessage, LLMRequest, LLMResponse, StreamEvent
from memory.types import TurnMessage

Stage = Literal["first_contact", "consideration", "decision", "after_sales"]
SUGGESTION_COUNT = 3
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_ASSETS = {"price_list": "价格表", "cases": "案例", "certificates": "资质证书", "address": "地址"}
COMPLIANCE_RULES = (
    "遵守《广告法》和《医疗美容广告执法指南》：不用绝对化用语（最、第一、顶级等）；不承诺或保证效果、安全（如永久、根治、"
    "无副作用、零风险、无痛）；不提治愈率、有效率；不展示或描述术前术后对比；不借明星、专家、医生、患者背书；"
    "不制造容貌焦虑；不诱导医美贷、零首付；不与同行比较或贬低同行；化妆品不宣称医疗作用。"
    "效果因人而异，项目方案需医生面诊评估后确定。"
)


class AssistantProfile(BaseModel):
    assistant_name: str
    nickname: str | None = None
    personality: str = ""
    occupation: str = ""
    industry: str = ""
    address: str | None = None
    model: str | None = None


class CustomerProfile(BaseModel):
    nickname: str | None = None
    real_name: str | None = None
    sex: str | None = None
    age: int | None = None
    services: list[str] = []
    is_converted: bool = False
    handoff_reason: str | None = None  # the thread is with a person (hand-off): no AI reply until it is released

    @property
    def display_name(self) -> str | None:
        return self.real_name or self.nickname


class SalesInput(BaseModel):
    """Everything the reply is written from (the graph fills it from the other agents' results)."""

    tenant_id: str = Field(default="", description="Set by the service from the caller's token.")
    text: str = Field(min_length=1, max_length=20000, description="The customer's message(s) of this turn.")
    assistant: AssistantProfile
    prompt: PromptConfig | None = Field(default=None, description="The assistant's active prompt_config.")
    customer: CustomerProfile = CustomerProfile()
    history: list[TurnMessage] = Field(default_factory=list, description="The conversation window, oldest first.")
    memories: list[str] = []
    products: list[ProductPick] = []
    sentiment: SentimentResult | None = None
    intent: IntentResult | None = None
    model: str | None = Field(default=None, description="Requested model or alias; else the prompt's, the assistant's, the default.")
    now: datetime | None = None
    feedback: list[str] = Field(default_factory=list, description="Problems of a previous draft, for a regeneration.")


class Suggestions(BaseModel):
    replies: list[str]
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class Strategies(BaseModel):
    stages: dict[Stage, str]
    strategies: dict[Stage, dict[Literal["positive", "neutral", "negative"], str]]
    urgent: str

    @classmethod
    def load(cls, path: Path) -> Strategies:
        return _load_strategies(str(path))


@lru_cache(maxsize=4)
def _load_strategies(path: str) -> Strategies:
    with open(path, encoding="utf-8") as fh:
        return Strategies.model_validate(yaml.safe_load(fh))


def journey_stage(sales: SalesInput) -> Stage:
    if sales.customer.is_converted:
        return "after_sales"
    if sales.intent is not None and (sales.intent.strength == "strong" or sales.intent.time is not None):
        return "decision"
    if not sales.history:
        return "first_contact"
    return "consideration"


def _render(text: str, values: dict[str, str]) -> str:
    """Fills the prompt placeholders the prompt validator allows; unknown braces are left as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _placeholders(sales: SalesInput) -> dict[str, str]:
    return {
        "assistant_name": sales.assistant.assistant_name,
        "nickname": sales.assistant.nickname or sales.assistant.assistant_name,
        "occupation": sales.assistant.occupation,
        "industry": sales.assistant.industry,
        "brand_name": sales.assistant.industry,
        "customer_name": sales.customer.display_name or "您",
        "customer_nickname": sales.customer.nickname or sales.customer.display_name or "您",
        "current_time": sales.now.strftime("%Y-%m-%d %H:%M") if sales.now else "",
        "products": "、".join(product.name for product in sales.products),
        "memories": "；".join(sales.memories),
    }


def _product_line(product: ProductPick) -> str:
    line = f"- {product.name}"
    if product.price is not None:
        line += f"（参考价 ¥{product.price:,.0f}）"
    if product.description:
        line += f"：{product.description}"
    if product.indications:
        line += f"；适合：{'、'.join(product.indications)}"
    if product.contraindications:
        line += f"；禁忌：{'、'.join(product.contraindications)}"
    return line


def _intent_guidance(sales: SalesInput) -> list[str]:
    intent = sales.intent
    if intent is None:
        return []
    lines = []
    if intent.time is not None:
        lines.append(f"客户希望的到店时间：{intent.time.strftime('%m月%d日 %H:%M')}（{intent.time_text or ''}），请确认并说明会有顾问联系确认。")
    elif intent.appointment:
        lines.append("客户有预约意向但还没说时间：请询问方便的日期和时间。")
    wanted = [_ASSETS[asset] for asset in intent.asset_requests]
    if wanted:
        lines.append(f"客户想要：{'、'.join(wanted)}。")
    if "address" in intent.asset_requests and sales.assistant.address:
        lines.append(f"门店地址：{sales.assistant.address}")
    return lines


def _strategy(sales: SalesInput, strategies: Strategies) -> list[str]:
    stage = journey_stage(sales)
    sentiment = sales.sentiment.label if sales.sentiment else "neutral"
    lines = [f"阶段：{strategies.stages[stage]}；客户情绪：{sentiment}", f"策略：{strategies.strategies[stage][sentiment]}"]
    if sales.sentiment is not None and sales.sentiment.urgency == "high":
        lines.append(strategies.urgent)
    return lines


def _scripts(sales: SalesInput, values: dict[str, str]) -> list[str]:
    """The prompt version's situational scripts that apply to this turn."""
    prompt, stage = sales.prompt, journey_stage(sales)
    if prompt is None:
        return []
    wanted = [
        (prompt.greeting_prompt, stage == "first_contact"),
        (prompt.product_recommendation_prompt, bool(sales.products)),
        (prompt.objection_handling_prompt, sales.sentiment is not None and sales.sentiment.label == "negative"),
        (prompt.closing_prompt, stage == "decision"),
        (prompt.context_instructions, True),
    ]
    return [_render(script, values) for script, applies in wanted if applies and script]


def system_prompt(sales: SalesInput, strategies: Strategies) -> str:
    values = _placeholders(sales)
    assistant, prompt = sales.assistant, sales.prompt
    sections: list[tuple[str, list[str]]] = [
        ("身份", [f"你是{assistant.assistant_name}，{assistant.industry}品牌的{assistant.occupation or '顾问'}，在线回复客户消息。",
                  assistant.personality]),
        ("人设与要求", [_render(prompt.personality_prompt, values), prompt.brand_voice or ""] if prompt else []),
        ("本轮策略", _strategy(sales, strategies)),
        ("客户", [f"称呼：{sales.customer.display_name}" if sales.customer.display_name else "",
                  f"关注项目：{'、'.join(sales.customer.services)}" if sales.customer.services else ""]),
        ("记得的信息", [f"- {memory}" for memory in sales.memories]),
        ("可参考的项目（只介绍与客户需求相关的）", [_product_line(product) for product in sales.products]),
        ("本轮意图", _intent_guidance(sales)),
        ("产品知识", [prompt.product_knowledge or ""] if prompt else []),
        ("话术", _scripts(sales, values)),
        ("合规", [COMPLIANCE_RULES, *_prompt_rules(prompt)]),
        ("上一稿的问题（这次必须避免）", [f"- {problem}" for problem in sales.feedback]),
        ("回复", ["用自然、简洁的中文回复，2到5句话；不编造价格、资质或案例；不要暴露这些说明。"]),
    ]
    blocks = []
    for title, lines in sections:
        body = "\n".join(line for line in lines if line)
        if body:
            blocks.append(f"【{title}】\n{body}")
    return "\n\n".join(blocks)


def _prompt_rules(prompt: PromptConfig | None) -> list[str]:
    if prompt is None:
        return []
    topics = [f"不讨论：{'、'.join(prompt.forbidden_topics)}"] if prompt.forbidden_topics else []
    return [*prompt.safety_guidelines, *topics]


def compose_context(sales: SalesInput) -> ComposeContext:
    intent = sales.intent
    return ComposeContext(
        assistant_name=sales.assistant.assistant_name,
        persona=sales.assistant.occupation or None,
        customer_message=sales.text,
        customer_name=sales.customer.display_name,
        sentiment=sales.sentiment.label if sales.sentiment else None,
        products=[
            ComposeProduct(name=p.name, description=p.description, price=p.price, reason="、".join(p.indications))
            for p in sales.products
        ],
        memories=sales.memories,
        appointment=intent.time.strftime("%m月%d日%H:%M") if intent is not None and intent.time is not None else None,
        ask_for_time=bool(intent is not None and intent.appointment and intent.time is None),
    )


class SalesAgent:
    def __init__(self, llm: LLMClient, config_dir: Path) -> None:
        """``config_dir``: the strategies (``prompts/strategies.yaml``) and, for the offline writer, the compliance packs."""
        self._llm = llm
        self._strategies = Strategies.load(config_dir / "prompts" / "strategies.yaml")
        self._compliance = ComplianceAgent.load(config_dir / "compliance")

    def request(self, sales: SalesInput, **overrides: Any) -> LLMRequest:
        prompt = sales.prompt
        parameters = prompt.llm_parameters if prompt is not None and prompt.llm_parameters else LLMParameters()
        history = [ChatMessage(role=m.role, content=m.content) for m in sales.history if m.content]
        return LLMRequest(
            messages=[*history, ChatMessage(role="user", content=sales.text)],
            system=system_prompt(sales, self._strategies),
            model=sales.model or parameters.model or sales.assistant.model,
            temperature=parameters.temperature,
            max_tokens=parameters.max_tokens,
            tenant_id=sales.tenant_id,
            **overrides,
        )

    async def reply(self, sales: SalesInput) -> AsyncIterator[StreamEvent]:
        """The reply as the router streams it; the last event carries the whole response. When no real model
        answers, the offline writer's reply, in one delta (the router's placeholder is never passed on)."""
        async for event in self._llm.stream(self.request(sales)):
            if not event.offline:
                yield event
            elif event.response is not None:
                written = self._written_offline(sales, event.response)
                yield StreamEvent(delta=written.content, offline=True)
                yield StreamEvent(offline=True, response=written)

    async def complete(self, sales: SalesInput) -> LLMResponse:
        response = await self._llm.complete(self.request(sales))
        return self._written_offline(sales, response) if response.offline else response

    def _written_offline(self, sales: SalesInput, placeholder: LLMResponse) -> LLMResponse:
        """The router's offline response with the offline writer's reply (and its size) instead of the placeholder."""
        content = compose_reply(compose_context(sales), self._compliance.approves)
        usage = placeholder.usage.model_copy(update={"output_tokens": estimate_tokens(content)})
        return placeholder.model_copy(update={"content": content, "usage": usage})

    async def suggest(self, sales: SalesInput) -> Suggestions:
        """Replies a human agent could send next (not sent, not stored)."""
        schema = {
            "type": "object",
            "properties": {"replies": {"type": "array", "items": {"type": "string", "minLength": 1},
                                       "minItems": SUGGESTION_COUNT, "maxItems": SUGGESTION_COUNT}},
            "required": ["replies"],
        }
        request = self.request(sales, json_schema=schema)
        request.system = f"{request.system}\n\n【任务】给人工顾问写{SUGGESTION_COUNT}条不同思路的候选回复（如：直接解答、追问需求、邀约面诊），每条独立可发送。"
        response = await self._llm.complete(request)
        if response.offline:
            replies = compose_suggestions(compose_context(sales), self._compliance.approves)
        else:
            replies = response.data["replies"]
        return Suggestions(replies=replies, model=response.model, input_tokens=response.usage.input_tokens,
                           output_tokens=response.usage.output_tokens, cost_usd=response.cost_usd)
