"""The LLM's second opinion on copy the rules approve: when it runs, what it changes, its cache, budget and failures."""

from __future__ import annotations

from collections import defaultdict

import pytest

from agents.compliance import ComplianceAgent, ComplianceInput
from agents.compliance_brand import BrandRules, SecondOpinion
from agents.compliance_review import ReviewedCompliance
from llm.errors import AllRoutesFailed
from llm.router import Router
from llm.types import LLMRequest, LLMResponse, Usage
from tests.config_paths import CONFIG_DIR

RULES = ComplianceAgent.load(CONFIG_DIR / "compliance")
CATEGORIES = {name: name for name in [*RULES.categories, "brand_rule"]}
# Passes every rule, but promises a result in other words: what a second opinion is for.
EVASIVE = "姐妹们做完反馈都超级好。打完感觉人生都开挂了！周末可预约。"
QUOTE = "打完感觉人生都开挂了"


class ScriptedJudge:
    """Test double of the LLM router: answers every structured request with the findings it was given."""

    def __init__(self, findings: list[dict] | None = None, offline: bool = False, fail: bool = False, cost: float = 0.002) -> None:
        self.findings, self.offline, self.fail, self.cost = findings or [], offline, fail, cost
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        if self.fail:
            raise AllRoutesFailed("every model failed")
        return LLMResponse(content="", model="gpt-4o-mini", provider="openai", usage=Usage(input_tokens=300, output_tokens=40),
                           cost_usd=self.cost, latency_ms=5.0, data={"violations": self.findings}, offline=self.offline)

    def stream(self, request):  # pragma: no cover - the review never streams
        raise NotImplementedError


class DictSpend:
    """Test double of the spend store: one number per tenant and day."""

    def __init__(self) -> None:
        self.spent_usd: dict[tuple[str, str], float] = defaultdict(float)

    async def spent(self, tenant_id: str, day: str) -> float:
        return self.spent_usd[(tenant_id, day)]

    async def add(self, tenant_id: str, day: str, cost_usd: float) -> None:
        self.spent_usd[(tenant_id, day)] += cost_usd


def _reviewed(judge, spend=None) -> ReviewedCompliance:
    return ReviewedCompliance(RULES, judge, spend or DictSpend(), lambda: CATEGORIES)


def _request(text: str = EVASIVE, channel: str = "social", tenant: str = "brand-a", **opinion) -> ComplianceInput:
    settings = SecondOpinion(enabled=True, **opinion)
    return ComplianceInput(text=text, channel=channel, brand=BrandRules(tenant_id=tenant, version=1, second_opinion=settings))


FINDING = {"category": "efficacy_guarantee", "quote": QUOTE, "reason": "夸大并暗示必然的效果"}


async def test_a_finding_the_rules_missed_flags_the_text_and_its_sentence_is_dropped():
    assert RULES.check_text(EVASIVE, "social").verdict == "approved"
    judge = ScriptedJudge([FINDING])
    result = await _reviewed(judge).check(_request())
    assert result.verdict == "flagged" and [v.category for v in result.violations] == ["efficacy_guarantee"]
    span = result.violations[0].span
    assert EVASIVE[span.start:span.end] == QUOTE
    assert result.rewritten == "姐妹们做完反馈都超级好。周末可预约。"
    opinion = result.second_opinion
    assert opinion.status == "reviewed" and not opinion.agrees and opinion.model == "gpt-4o-mini" and opinion.cost_usd == 0.002
    request = judge.requests[0]
    assert request.json_schema is not None and request.tenant_id == "brand-a" and EVASIVE in request.messages[0].content


async def test_record_mode_reports_the_disagreement_and_keeps_the_rules_verdict():
    result = await _reviewed(ScriptedJudge([FINDING])).check(_request(mode="record"))
    assert result.verdict == "approved" and result.violations == [] and result.rewritten is None
    assert not result.second_opinion.agrees and result.second_opinion.violations[0].span.text == QUOTE


@pytest.mark.parametrize("request_", [
    _request(channel="chat"),                                                     # chat replies are the rules' alone
    ComplianceInput(text=EVASIVE, channel="social", brand=BrandRules(tenant_id="brand-a")),  # switched off
    ComplianceInput(text=EVASIVE, channel="social"),                              # no brand rules at all
    ComplianceInput(text=EVASIVE, channel="social", direction="input",
                    brand=BrandRules(tenant_id="a", second_opinion=SecondOpinion(enabled=True))),
    _request(text="全国最好的医美机构。"),                                        # the rules already object
], ids=["chat", "disabled", "no-brand", "input", "rules-flagged"])
async def test_no_model_call_where_no_second_opinion_is_due(request_):
    judge = ScriptedJudge([FINDING])
    result = await _reviewed(judge).check(request_)
    assert judge.requests == [] and result.second_opinion is None
    assert result == RULES.check_text(request_.text, request_.channel, request_.direction, request_.brand)


async def test_judgements_are_cached_per_tenant_and_text():
    judge, spend = ScriptedJudge([FINDING]), DictSpend()
    reviewed = _reviewed(judge, spend)
    first = await reviewed.check(_request())
    again = await reviewed.check(_request())
    assert len(judge.requests) == 1 and again.second_opinion.cached and again.second_opinion.cost_usd == 0
    assert again.verdict == first.verdict and again.violations == first.violations
    await reviewed.check(_request(tenant="brand-b"))  # another tenant's cache is its own
    await reviewed.check(_request(text=EVASIVE + "欢迎咨询。"))
    assert len(judge.requests) == 3
    assert sum(spend.spent_usd.values()) == pytest.approx(0.006)


async def test_over_the_daily_budget_the_rules_alone_decide():
    judge, spend = ScriptedJudge([FINDING], cost=0.3), DictSpend()
    reviewed = _reviewed(judge, spend)
    assert (await reviewed.check(_request(daily_budget_usd=0.5))).verdict == "flagged"
    assert (await reviewed.check(_request(text=EVASIVE + "！", daily_budget_usd=0.5))).verdict == "flagged"  # 0.3 < 0.5
    over = await reviewed.check(_request(text=EVASIVE + "！！", daily_budget_usd=0.5))  # 0.6 spent
    assert over.verdict == "approved" and over.second_opinion.status == "over_budget" and len(judge.requests) == 2
    assert (await reviewed.check(_request(text=EVASIVE + "！！", tenant="brand-b", daily_budget_usd=0.5))).verdict == "flagged"


async def test_a_failed_model_call_keeps_the_rules_verdict_and_says_why():
    result = await _reviewed(ScriptedJudge(fail=True)).check(_request())
    assert result.verdict == "approved" and result.second_opinion.status == "failed" and "AllRoutesFailed" in result.second_opinion.error


async def test_quotes_the_text_does_not_hold_and_unknown_categories_are_not_acted_on():
    judge = ScriptedJudge([{"category": "cure_rate", "quote": "治愈率99%", "reason": "编造"},
                           {"category": "made_up", "quote": QUOTE, "reason": "?"}])
    result = await _reviewed(judge).check(_request())
    assert result.verdict == "approved" and result.second_opinion.agrees and result.second_opinion.violations == []


async def test_offline_the_rules_alone_decide_through_the_real_router():
    """With no model configured the router answers from the offline provider: no second opinion is reported."""
    router = Router.from_settings(_offline_settings())
    try:
        result = await ReviewedCompliance(RULES, router, DictSpend(), lambda: CATEGORIES).check(_request())
    finally:
        await router.close()
    assert result.verdict == "approved" and result.second_opinion is None


def _offline_settings():
    from runtime.settings import Settings

    return Settings(openai_api_key=None, anthropic_api_key=None)


async def test_a_spend_store_that_fails_keeps_the_rules_verdict():
    class BrokenSpend(DictSpend):
        """Test double of a spend store whose database is down."""

        async def spent(self, tenant_id: str, day: str) -> float:
            raise ConnectionError("database unreachable")

    judge = ScriptedJudge([FINDING])
    result = await _reviewed(judge, BrokenSpend()).check(_request())
    assert result.verdict == "approved" and result.second_opinion.status == "failed" and judge.requests == []
