"""Customer analysis of a conversation thread: a profile (``CustomerInsight``), a markdown report for the consultant
and 3–5 tags.

Each asks the LLM router, with the transcript, the memories and the rule-based findings
(``agents.social.analysis_offline``) in the prompt. When no real model answers (``offline``) the findings are the
answer. A model's answer is kept within the same contracts as the findings: a score of 0–100, 3–5 distinct tags
of at most 8 characters, stage, intent and mood from their allowed values (else the findings'), a report that is
not empty. Router errors (every model failed) are raised to the caller.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Literal, get_args

from agents.intent import Strength
from agents.offload import off_the_loop
from agents.ports import LLMClient
from agents.sales import Stage
from agents.sentiment import SentimentLabel, load_lexicon
from agents.social.analysis_offline import MAX_ITEMS, BudgetRange, CustomerFile, CustomerInsight, Findings, LeadScore, analyse
from agents.social.analysis_rules import MAX_TAGS, MIN_TAGS, TAG_CHARS, AnalysisConfig, BudgetConfig, NextSteps, Rules, load_rules
from agents.social.models import Spend
from llm.types import ChatMessage, LLMRequest, LLMResponse

__all__ = [
    "BudgetRange", "CustomerAnalyst", "CustomerFile", "CustomerInsight", "LabelResult", "LeadScore",
    "ProfileResult", "ReportResult",
]

OFFLINE_MODEL = "offline"
MAX_ITEM_CHARS = 100  # of each text in a model's profile
_ROLES = {"user": "客户", "assistant": "顾问", "system": "系统"}
_PLACEHOLDER = re.compile(r"\{(customer|memories|transcript|findings)\}")


class ReportResult(Spend):
    thread_id: str
    report: str


class LabelResult(Spend):
    thread_id: str
    labels: list[str]


class ProfileResult(Spend):
    thread_id: str
    profile: CustomerInsight


# ---- the offline tags and report -------------------------------------------------------------------------------


def fit_tags(tags: list[str], fillers: list[str]) -> list[str]:
    """``MIN_TAGS``–``MAX_TAGS`` distinct tags of at most ``TAG_CHARS`` characters: ``tags`` in order, then ``fillers``."""
    kept = list(dict.fromkeys(tag.strip() for tag in tags if tag.strip() and len(tag.strip()) <= TAG_CHARS))[:MAX_TAGS]
    for filler in fillers:
        if len(kept) >= MIN_TAGS:
            break
        if filler not in kept:
            kept.append(filler)
    return kept


def _band(config: BudgetConfig, budget: BudgetRange) -> str:
    """The band of the budget's middle (or of its one bound)."""
    bounds = [value for value in (budget.min_cny, budget.max_cny) if value is not None]
    if not bounds:
        return config.unlimited_label
    amount = sum(bounds) / len(bounds)
    return next(band.label for band in config.bands if band.below is None or amount < band.below)


def offline_labels(findings: Findings, config: AnalysisConfig) -> list[str]:
    """Most important first: the stage (or 已婉拒), an allergy, the first objection, the budget, the concerns; the
    stage, intent and mood tags fill up to three (the config keeps them distinct)."""
    insight, tags = findings.insight, config.tags
    ranked = [
        tags.declined if findings.declined else tags.stage[insight.journey_stage],
        *([tags.allergy] if insight.allergies else []),
        *insight.objections[:1],
        *([_band(config.budget, insight.budget)] if insight.budget else []),
        *insight.concerns,
        *insight.objections[1:],
    ]
    fillers = [tags.stage[insight.journey_stage], tags.intent[insight.intent_strength], tags.sentiment[insight.sentiment]]
    return fit_tags(ranked, fillers)


def _budget_line(budget: BudgetRange) -> str:
    """As the customer said it, with the range it is read as where that is not plain (5000元左右)."""
    bounds = list(dict.fromkeys(value for value in (budget.min_cny, budget.max_cny) if value is not None))
    if not bounds:
        return f"- {budget.text or '不限'}"
    span = "–".join(f"{value:,.0f}元" for value in bounds)
    span = f"{span}以内" if budget.min_cny is None else f"{span}以上" if budget.max_cny is None else span
    if not budget.text:
        return f"- {span}"
    return f"- {budget.text}（约{span}）" if "左右" in budget.text else f"- {budget.text}"


def _next_steps(findings: Findings, steps: NextSteps) -> list[str]:
    insight = findings.insight
    if findings.declined:
        first = steps.declined
    elif insight.journey_stage == "decision" and findings.time_text:
        first = steps.decision_with_time.replace("{time}", findings.time_text)
    else:
        first = getattr(steps, insight.journey_stage)
    return [
        *([steps.negative] if insight.sentiment == "negative" else []),
        first,
        *([steps.allergy.replace("{allergies}", "、".join(insight.allergies))] if insight.allergies else []),
        *(steps.objections[name] for name in insight.objections),
    ]


def render_report(findings: Findings, config: AnalysisConfig) -> str:
    """The six sections, each with 暂无 when there is nothing to say."""
    insight, text = findings.insight, config.report
    needs = [("关注问题", insight.concerns), ("感兴趣的项目", insight.interested_services),
             ("肤质", [insight.skin_type] if insight.skin_type else []), ("做过的项目", insight.treatments_done)]
    worries = [f"- 过敏史：{'、'.join(insight.allergies)}"] if insight.allergies else []
    worries += [f"- {name}" for name in insight.objections if name in text.worries]
    stage = [
        f"- {text.stage_names[insight.journey_stage]}（{text.intent_names[insight.intent_strength]}）",
        *([f"- 预约时间：{findings.time_text}"] if findings.time_text else []),
        *(["- 客户已婉拒"] if findings.declined else []),
        f"- 客户情绪：{text.sentiment_names[insight.sentiment]}",
        f"- 成交可能性：{insight.lead.score}/100（{'；'.join(insight.lead.reasons)}）",
    ]
    sections = [
        ("需求", [f"- {name}：{'、'.join(values)}" for name, values in needs if values]),
        ("顾虑", worries),
        ("预算", [_budget_line(insight.budget)] if insight.budget else []),
        ("异议", [f"- {name}" for name in insight.objections if name not in text.worries]),
        ("阶段", stage),
        ("下一步", [f"- {step}" for step in _next_steps(findings, text.next_steps)]),
    ]
    blocks = [] if findings.has_conversation else [f"> {text.no_conversation}"]
    blocks += [f"## {title}\n" + ("\n".join(lines) if lines else text.empty) for title, lines in sections]
    return "\n\n".join(blocks) + "\n"


# ---- the LLM version -------------------------------------------------------------------------------------------

_TEXTS = {"type": "array", "items": {"type": "string"}}
_NUMBER = {"type": ["number", "null"]}


def _choice(values: tuple[str, ...]) -> dict[str, Any]:
    """A string the prompt names the values of; not an enum, so one odd value falls back instead of failing the call."""
    return {"type": "string", "description": "/".join(values)}


PROFILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "skin_type": {"type": ["string", "null"]},
        "concerns": _TEXTS,
        "allergies": _TEXTS,
        "budget": {"type": ["object", "null"], "properties": {"min_cny": _NUMBER, "max_cny": _NUMBER, "text": {"type": ["string", "null"]}}},
        "treatments_done": _TEXTS,
        "interested_services": _TEXTS,
        "journey_stage": _choice(get_args(Stage)),
        "intent_strength": _choice(get_args(Strength)),
        "sentiment": _choice(get_args(SentimentLabel)),
        "objections": _TEXTS,
        "lead": {"type": "object", "properties": {"score": {"type": "number"}, "reasons": _TEXTS}, "required": ["score", "reasons"]},
    },
    "required": [
        "skin_type", "concerns", "allergies", "budget", "treatments_done", "interested_services", "journey_stage",
        "intent_strength", "sentiment", "objections", "lead",
    ],
}
LABELS_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"labels": _TEXTS}, "required": ["labels"]}


class CustomerAnalyst:
    def __init__(self, llm: LLMClient, config_dir: Path) -> None:
        """``config_dir``: the rules are its ``social/analysis.yaml``, the sentiment lexicon its ``sentiment/lexicon.yaml``."""
        self._llm = llm
        self._path = config_dir / "social" / "analysis.yaml"
        self._rules = load_rules(self._path)
        self._lexicon = load_lexicon(config_dir / "sentiment" / "lexicon.yaml")

    def reload(self) -> None:
        """Re-reads ``analysis.yaml``; an invalid file raises ``ValueError`` and the running config stays."""
        self._rules = load_rules(self._path)

    async def profile(self, file: CustomerFile) -> ProfileResult:
        rules, findings, response = await self._ask(file, "profile", PROFILE_SCHEMA)
        if response.offline:
            return ProfileResult(thread_id=file.thread_id, profile=findings.insight, model=OFFLINE_MODEL)
        return ProfileResult(thread_id=file.thread_id, profile=_insight(response.data, findings.insight), **_usage(response))

    async def report(self, file: CustomerFile) -> ReportResult:
        rules, findings, response = await self._ask(file, "report")
        written = render_report(findings, rules.config)
        if response.offline:
            return ReportResult(thread_id=file.thread_id, report=written, model=OFFLINE_MODEL)
        return ReportResult(thread_id=file.thread_id, report=response.content.strip() or written, **_usage(response))

    async def labels(self, file: CustomerFile) -> LabelResult:
        rules, findings, response = await self._ask(file, "labels", LABELS_SCHEMA)
        found = offline_labels(findings, rules.config)
        if response.offline:
            return LabelResult(thread_id=file.thread_id, labels=found, model=OFFLINE_MODEL)
        answer = response.data.get("labels") if isinstance(response.data, dict) else None
        tags = [tag for tag in answer[: MAX_TAGS * 4] if isinstance(tag, str)] if isinstance(answer, list) else []
        return LabelResult(thread_id=file.thread_id, labels=fit_tags(tags, found), **_usage(response))

    async def insight(self, file: CustomerFile) -> CustomerInsight:
        """The rule-based profile alone, no model asked (what a campaign personalises thousands of messages from)."""
        return (await self._findings(file, self._rules)).insight

    async def _findings(self, file: CustomerFile, rules: Rules) -> Findings:
        chars = sum(len(message.content) for message in file.messages) + sum(map(len, file.memories))
        return await off_the_loop(chars, analyse, file, rules, self._lexicon)

    async def _ask(
        self, file: CustomerFile, task: Literal["profile", "report", "labels"], schema: dict[str, Any] | None = None
    ) -> tuple[Rules, Findings, LLMResponse]:
        """The rules' findings and the router's answer to ``task``'s prompt, under one config (a reload may come between)."""
        rules = self._rules
        findings = await self._findings(file, rules)
        prompts = rules.config.prompts
        system, max_tokens = getattr(prompts, f"{task}_system"), getattr(prompts, f"{task}_max_tokens")
        response = await self._llm.complete(_request(file, findings, rules, system, max_tokens, schema))
        return rules, findings, response


def _request(file: CustomerFile, findings: Findings, rules: Rules, system: str, max_tokens: int, schema: dict[str, Any] | None) -> LLMRequest:
    """The user message holds the customer record, the memories, the transcript and the findings, each bounded."""
    limits = rules.config.limits
    chars = limits.prompt_message_chars
    customer = file.customer
    about = [
        f"称呼：{customer.display_name}" if customer.display_name else "",
        f"性别：{customer.sex}" if customer.sex else "",
        f"年龄：{customer.age}" if customer.age is not None else "",
        f"关注项目：{'、'.join(customer.services)}" if customer.services else "",
        "已成交客户" if customer.is_converted else "",
    ]
    memories = file.memories[-limits.prompt_memories:] if limits.prompt_memories else []
    transcript = [f"{_ROLES[message.role]}：{message.content[:chars]}" for message in file.messages[-limits.prompt_messages:]]
    values = {
        "customer": "；".join(filter(None, about)) or "（无）",
        "memories": "\n".join(f"- {memory[:chars]}" for memory in memories) or "（无）",
        "transcript": "\n".join(transcript) or "（暂无对话）",
        "findings": json.dumps(
            {**findings.insight.model_dump(), "declined": findings.declined, "appointment_time": findings.time_text}, ensure_ascii=False
        ),
    }
    prompt = _PLACEHOLDER.sub(lambda match: values[match[1]], rules.config.prompts.user)
    return LLMRequest(
        messages=[ChatMessage(role="user", content=prompt)], system=system, model=file.model, temperature=0.2,
        max_tokens=max_tokens, json_schema=schema, tenant_id=file.tenant_id,
    )


def _usage(response: LLMResponse) -> dict[str, Any]:
    usage = response.usage
    return {"model": response.model, "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens, "cost_usd": response.cost_usd}


def _texts(value: Any, fallback: list[str]) -> list[str]:
    if not isinstance(value, list):
        return fallback
    texts = (item.strip()[:MAX_ITEM_CHARS] for item in value[: MAX_ITEMS * 4] if isinstance(item, str))
    return list(dict.fromkeys(text for text in texts if text))[:MAX_ITEMS]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _amount(value: Any) -> float | None:
    return float(value) if _number(value) and 0 <= value < 1e12 else None


def _text(value: Any) -> str | None:
    return value.strip()[:MAX_ITEM_CHARS] or None if isinstance(value, str) else None


def _budget(value: Any, fallback: BudgetRange | None) -> BudgetRange | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return fallback
    low, high = _amount(value.get("min_cny")), _amount(value.get("max_cny"))
    if low is not None and high is not None and low > high:
        low, high = high, low
    text = _text(value.get("text"))
    return BudgetRange(min_cny=low, max_cny=high, text=text) if (low, high, text) != (None, None, None) else None


def _lead(value: Any, fallback: LeadScore) -> LeadScore:
    score = value.get("score") if isinstance(value, dict) else None
    if not _number(score):
        return fallback
    return LeadScore(score=max(0, min(100, round(score))), reasons=_texts(value.get("reasons"), []))


def _insight(data: Any, found: CustomerInsight) -> CustomerInsight:
    """The model's profile within the contracts; a field it leaves out or gets wrong is the findings'."""
    if not isinstance(data, dict):
        return found

    def allowed(key: str, values: tuple[str, ...]) -> Any:
        return data[key] if data.get(key) in values else getattr(found, key)

    skin = data.get("skin_type", found.skin_type)
    return CustomerInsight(
        skin_type=_text(skin) if isinstance(skin, str | None) else found.skin_type,
        concerns=_texts(data.get("concerns"), found.concerns),
        allergies=_texts(data.get("allergies"), found.allergies),
        budget=_budget(data["budget"], found.budget) if "budget" in data else found.budget,
        treatments_done=_texts(data.get("treatments_done"), found.treatments_done),
        interested_services=_texts(data.get("interested_services"), found.interested_services),
        journey_stage=allowed("journey_stage", get_args(Stage)),
        intent_strength=allowed("intent_strength", get_args(Strength)),
        sentiment=allowed("sentiment", get_args(SentimentLabel)),
        objections=_texts(data.get("objections"), found.objections),
        lead=_lead(data.get("lead"), found.lead),
    )
