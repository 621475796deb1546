"""The Sales agent's prompt: what the LLM is told comes from the prompt version, the strategy and the findings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone

from agents.intent import Entities, IntentResult, Invitation
from agents.product import ProductPick
from agents.sales import AssistantProfile, CustomerProfile, SalesAgent, SalesInput, compose_context, journey_stage
from agents.sentiment import SentimentResult
from llm.router import Router
from llm.settings import LLMSettings
from llm.types import LLMRequest, LLMResponse, StreamEvent, Usage
from memory.types import TurnMessage
from tests.config_paths import CONFIG_DIR

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)
PRODUCT = ProductPick(product_id="p1", name="补水嫩肤疗程", description="深层补水", price=980.0, indications=["皮肤干燥"],
                      contraindications=["孕期"], score=1.0)


def intent(strength: str = "none", time: datetime | None = None, assets: list[str] | None = None) -> IntentResult:
    return IntentResult(appointment=strength != "none", strength=strength, time=time, time_text="明天下午3点" if time else None,
                        entities=Entities(), asset_requests=assets or [], invitation=Invitation())


def sentiment(label: str = "neutral", urgency: str = "low") -> SentimentResult:
    return SentimentResult(label=label, score=0.0, urgency=urgency, mode="offline")


def sales(**fields) -> SalesInput:
    base = dict(tenant_id="t1", text="想补水", assistant=AssistantProfile(assistant_name="小雅", occupation="皮肤管理顾问",
                industry="医美", address="上海市静安区南京西路1号"), now=NOW)
    return SalesInput(**{**base, **fields})


def agent() -> SalesAgent:
    return SalesAgent(Router.from_settings(LLMSettings(models_config=CONFIG_DIR / "models.yaml"), environ={}), CONFIG_DIR)


class ModelStream:
    """Stands in for the router when a real model answers: streams ``text`` in two deltas."""

    def __init__(self, text: str) -> None:
        self.response = LLMResponse(content=text, model="gpt", provider="openai", usage=Usage(), cost_usd=0, latency_ms=1)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        return self.response

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        half = len(self.response.content) // 2
        for delta in (self.response.content[:half], self.response.content[half:]):
            yield StreamEvent(delta=delta)
        yield StreamEvent(response=self.response)


def test_the_prompt_carries_the_version_findings_and_the_rules() -> None:
    prompt = {"personality_prompt": "你是{assistant_name}，称呼客户{customer_name}。{unknown}", "brand_voice": "亲切",
              "product_recommendation_prompt": "推荐时先问预算。", "forbidden_topics": ["竞品价格"],
              "safety_guidelines": ["不评价其他医生"], "llm_parameters": {"model": "fast", "temperature": 0.3, "max_tokens": 300}}
    turn = sales(prompt=prompt, customer=CustomerProfile(real_name="王芳"), memories=["过敏：对玻尿酸过敏"], products=[PRODUCT],
                 history=[TurnMessage(role="user", content="你好")], intent=intent("weak", assets=["address"]))
    request = agent().request(turn)
    system = request.system
    assert "你是小雅，称呼客户王芳。{unknown}" in system  # placeholders filled, unknown braces left as written
    assert "过敏：对玻尿酸过敏" in system and "补水嫩肤疗程（参考价 ¥980）" in system and "禁忌：孕期" in system
    assert "推荐时先问预算。" in system and "不讨论：竞品价格" in system and "不评价其他医生" in system
    assert "上海市静安区南京西路1号" in system and "广告法" in system
    assert (request.model, request.temperature, request.max_tokens, request.tenant_id) == ("fast", 0.3, 300, "t1")
    assert [(m.role, m.content) for m in request.messages] == [("user", "你好"), ("user", "想补水")]
    assert compose_context(turn).products[0].name == "补水嫩肤疗程"  # what the offline writer gets


def test_the_requested_model_wins_then_the_prompts_then_the_assistants() -> None:
    prompt = {"personality_prompt": "p", "llm_parameters": {"model": "fast"}}
    assistant = AssistantProfile(assistant_name="小雅", model="balanced")
    assert agent().request(sales(prompt=prompt, assistant=assistant, model="structured")).model == "structured"
    assert agent().request(sales(prompt=prompt, assistant=assistant)).model == "fast"
    assert agent().request(sales(assistant=assistant)).model == "balanced"


def test_the_strategy_follows_the_journey_stage_and_sentiment() -> None:
    when = datetime(2026, 3, 11, 7, 0, tzinfo=timezone.utc)
    assert journey_stage(sales()) == "first_contact"
    assert journey_stage(sales(history=[TurnMessage(role="user", content="在吗")])) == "consideration"
    assert journey_stage(sales(intent=intent("strong", when))) == "decision"
    assert journey_stage(sales(customer=CustomerProfile(is_converted=True), intent=intent("strong"))) == "after_sales"
    urgent = agent().request(sales(customer=CustomerProfile(is_converted=True), sentiment=sentiment("negative", "high"))).system
    assert "售后关怀" in urgent and "本轮不推荐任何项目" in urgent
    booking = agent().request(sales(intent=intent("strong", when))).system
    assert "准备预约" in booking and "客户希望的到店时间" in booking


def test_a_regeneration_tells_the_model_what_was_wrong() -> None:
    system = agent().request(sales(feedback=["「最好」：绝对化用语"])).system
    assert "上一稿的问题" in system and "「最好」：绝对化用语" in system


async def test_offline_replies_use_the_findings_and_never_claim_a_model() -> None:
    response = await agent().complete(sales(products=[PRODUCT], intent=intent("strong", NOW)))
    assert response.model == "offline" and response.offline and "补水嫩肤疗程" in response.content


async def test_when_no_real_model_answers_the_stream_carries_the_offline_writers_reply_only() -> None:
    turn = sales(products=[PRODUCT])
    events = [event async for event in agent().reply(turn)]
    reply = "".join(event.delta for event in events)
    assert reply == events[-1].response.content == (await agent().complete(turn)).content
    assert "补水嫩肤疗程" in reply and events[-1].response.offline and all(event.offline for event in events)


async def test_a_real_models_reply_is_passed_on_as_it_streams() -> None:
    llm = ModelStream("您好，补水可以先做面诊。")
    events = [event async for event in SalesAgent(llm, CONFIG_DIR).reply(sales(products=[PRODUCT]))]
    assert [event.delta for event in events] == ["您好，补水可", "以先做面诊。", ""] and events[-1].response is llm.response
    assert await SalesAgent(llm, CONFIG_DIR).complete(sales()) is llm.response


async def test_offline_suggestions_answer_ask_and_invite() -> None:
    suggestions = await agent().suggest(sales(products=[PRODUCT]))
    answer, ask, invite = suggestions.replies
    assert "补水嫩肤疗程" in answer and "预算" in ask and "预约" in invite and suggestions.model == "offline"
