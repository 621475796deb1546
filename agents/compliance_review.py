"""A second opinion on copy the rules approve: the LLM, through the router's structured output, reads texts on the
``ad`` and ``social`` channels for what wording rules miss (a claim made by its meaning, a new evasion).

It runs only when the tenant switched it on (``BrandRules.second_opinion``), a real model answers (offline, the rules
alone decide), and the tenant's spend today is under its budget. Judgements are cached per tenant and text, so a
text checked again (a rewrite round, a batch) costs nothing. A finding counts only where its quote is found in the
text; in ``flag`` mode it flags the text and the rewrite drops its sentence, in ``record`` mode it is only reported.
A failed call never fails the check: the rules' verdict stands and the report says why.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from agents.compliance import (
    ComplianceInput,
    ComplianceResult,
    SecondOpinionReport,
    Span,
    Violation,
    drop_sentences,
)
from agents.compliance_brand import SecondOpinion
from agents.output_guard import ComplianceService
from agents.ports import LLMClient
from llm.types import ChatMessage, LLMRequest

log = logging.getLogger("mas.compliance")

REVIEWED_CHANNELS = frozenset({"ad", "social"})
MAX_FINDINGS = 10
PROMPT_VERSION = "1"  # part of the cache key: a changed prompt judges anew

_SYSTEM = """你是中国广告合规审核员，熟悉《广告法》《医疗美容广告执法指南》《化妆品监督管理条例》和社交平台社区规范。
审核一段医美/美妆品牌准备发布的文字（渠道：{channel}）。规则引擎已按关键词审核通过，你要找出它可能漏掉的违规：
谐音、拆字、符号隔开、繁体、拼音缩写、换一种说法表达的同一主张（如“九成都好了”即宣传治愈率）、
不用关键词的容貌焦虑、不点名的同行比较、引导到站外或其他平台联系。
只报告确实违规的内容，合规的介绍、建议、否定说法不要报告。类别只能是：
{categories}
每条违规给出 category、quote（文中原样摘出的最短违规片段，必须是原文的子串）和 reason（一句话说明）。没有违规时 violations 为空数组。"""


class _Finding(BaseModel):
    category: str = Field(max_length=40)
    quote: str = Field(max_length=200)
    reason: str = Field(default="", max_length=300)


class _Judgement(BaseModel):
    violations: list[_Finding] = Field(default=[], max_length=MAX_FINDINGS)


class ReviewSpend(Protocol):
    """What the tenant spent on second opinions, per UTC day (the store shares it between replicas)."""

    async def spent(self, tenant_id: str, day: str) -> float: ...

    async def add(self, tenant_id: str, day: str, cost_usd: float) -> None: ...


class ReviewedCompliance:
    """A ``ComplianceService``: the rules (``rules``, the Compliance agent or its deployment), then, where due, the
    model's second opinion."""

    def __init__(self, rules: ComplianceService, llm: LLMClient, spend: ReviewSpend,
                 categories: Callable[[], Mapping[str, str]], model: str | None = None, cache_entries: int = 4096) -> None:
        """``categories``: id → description of the categories the model may name (the packs' and ``brand_rule``),
        asked for on the first review: a replica that never reviews never compiles the packs for it.
        ``model``: an alias or model of the router's catalog (None: its default alias)."""
        self._rules, self._llm, self._spend = rules, llm, spend
        self._load_categories = categories
        self._model = model
        self._cache: OrderedDict[str, SecondOpinionReport] = OrderedDict()
        self._cache_entries = cache_entries

    @cached_property
    def _categories(self) -> dict[str, str]:
        return dict(self._load_categories())

    @cached_property
    def _schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"violations": {"type": "array", "maxItems": MAX_FINDINGS, "items": {
                "type": "object",
                "properties": {"category": {"type": "string", "enum": sorted(self._categories)},
                               "quote": {"type": "string", "maxLength": 200},
                               "reason": {"type": "string", "maxLength": 300}},
                "required": ["category", "quote", "reason"]}}},
            "required": ["violations"],
        }

    @cached_property
    def _category_lines(self) -> str:
        return "\n".join(f"- {name}: {description}" for name, description in self._categories.items())

    async def check(self, request: ComplianceInput) -> ComplianceResult:
        result = await self._rules.check(request)
        settings = request.brand.second_opinion if request.brand is not None else None
        if (settings is None or not settings.enabled or result.verdict != "approved" or request.direction != "output"
                or request.channel not in REVIEWED_CHANNELS):
            return result
        report = await self._opinion(request, settings)
        if report is None:
            return result
        return _with(result, report, request.text, settings)

    async def _opinion(self, request: ComplianceInput, settings: SecondOpinion) -> SecondOpinionReport | None:
        tenant_id = request.brand.tenant_id if request.brand is not None else ""
        key = _key(tenant_id, request.channel, self._model, request.text)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached.model_copy(update={"cached": True, "cost_usd": 0.0})
        day = datetime.now(timezone.utc).date().isoformat()
        try:
            if await self._spend.spent(tenant_id, day) >= settings.daily_budget_usd:
                return SecondOpinionReport(status="over_budget", agrees=True)
            response = await self._llm.complete(self._request(request, tenant_id))
            if not response.offline:
                await self._spend.add(tenant_id, day, response.cost_usd)
        except Exception as exc:  # the store or the model: the rules' verdict stands, and the report says why
            log.warning("compliance second opinion failed for tenant %s: %s", tenant_id, type(exc).__name__)
            return SecondOpinionReport(status="failed", agrees=True, error=f"{type(exc).__name__}: {exc}"[:300])
        if response.offline:
            return None
        try:
            judgement = _Judgement.model_validate(response.data or {})
        except ValidationError as exc:
            return SecondOpinionReport(status="failed", agrees=True, model=response.model, cost_usd=response.cost_usd,
                                       error=f"unreadable judgement: {exc.error_count()} errors")
        report = self._report(judgement, request.text, response.model, response.cost_usd)
        self._cache[key] = report
        while len(self._cache) > self._cache_entries:
            self._cache.popitem(last=False)
        return report

    def _request(self, request: ComplianceInput, tenant_id: str) -> LLMRequest:
        return LLMRequest(messages=[ChatMessage(role="user", content=request.text)],
                          system=_SYSTEM.format(channel=request.channel, categories=self._category_lines), model=self._model,
                          temperature=0.0, max_tokens=800, json_schema=self._schema, tenant_id=tenant_id or None,
                          metadata={"purpose": "compliance_review"})

    def _report(self, judgement: _Judgement, text: str, model: str, cost_usd: float) -> SecondOpinionReport:
        violations = []
        for finding in judgement.violations:
            start = text.find(finding.quote) if finding.quote else -1
            if finding.category not in self._categories or start < 0:
                continue  # a finding the text does not hold is not acted on
            end = start + len(finding.quote)
            violations.append(Violation(rule_id="second_opinion", category=finding.category, severity="medium",
                                        span=Span(start=start, end=end, text=finding.quote),
                                        message=finding.reason or self._categories[finding.category],
                                        suggestion="删除或改写该表述。"))
        return SecondOpinionReport(status="reviewed", agrees=not violations, model=model, cost_usd=cost_usd,
                                   violations=violations)


def _key(tenant_id: str, channel: str, model: str | None, text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"{tenant_id}\x00{channel}\x00{model}\x00{PROMPT_VERSION}\x00{digest}"


def _with(result: ComplianceResult, report: SecondOpinionReport, text: str, settings: SecondOpinion) -> ComplianceResult:
    """The rules' approval, with the second opinion reported and, in ``flag`` mode, acted on."""
    if report.agrees or settings.mode == "record":
        return result.model_copy(update={"second_opinion": report})
    return result.model_copy(update={
        "verdict": "flagged", "violations": report.violations, "second_opinion": report,
        "rewritten": drop_sentences(text, [(v.span.start, v.span.end) for v in report.violations])})
