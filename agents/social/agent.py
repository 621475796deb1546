"""The Social agent: comments, replies, private chats, moments comments, keywords, copy variants and marketing
plans for a brand's social accounts, plus the customer analysis of a thread.

Every text is drafted by the LLM router (or, with no model configured, by the offline writer), then fitted to the
platform's style and passed through output compliance: approved, rewritten, or regenerated once with the violations
as feedback, and finally the offline writer's checked text. Nothing is returned that the last check did not approve.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from agents.compliance import Channel, ComplianceInput
from agents.compliance_brand import BrandRules
from agents.intent import IntentInput, IntentResult, detect_intent
from agents.offload import off_the_loop
from agents.output_guard import ComplianceService, OutputGuard
from agents.ports import LLMClient
from agents.sentiment import SentimentResult, analyse_offline, load_lexicon
from agents.social import offline_copy
from agents.social.actions import ActionPolicy, Signals, brand_terms, decide, engagement, mentioned
from agents.social.analysis import CustomerAnalyst, CustomerFile, LabelResult, ProfileResult, ReportResult
from agents.social.models import (
    BeautifyRequest,
    BeautifyResult,
    Brand,
    ChatRequest,
    ChatResult,
    CommentRequest,
    CommentResult,
    KeywordsRequest,
    KeywordsResult,
    MomentCustomer,
    MomentsRequest,
    MomentsResult,
    MomentTask,
    MomentTaskResult,
    OutreachResult,
    PlanOption,
    PlanRequest,
    PlanResult,
    ReloadMethod,
    ReloadResult,
    ReplyRequest,
    ReplyResult,
    ReplyTask,
    ReplyTaskResult,
    SocialBody,
    Spend,
)
from agents.social.style import Platform, PlatformStyle, TextKind, fit
from agents.social.templates import SocialConfig, fill
from llm.types import ChatMessage, LLMRequest, LLMResponse

COMMENT = 3
FALLBACK_TEXT = "谢谢分享～"
# A model's draft whose compliant rewrite keeps less than this share of it no longer says what it meant: regenerated.
KEEP_AT_LEAST = 0.5
MIN_COMPRESS_CHARS = 20
MAX_CANDIDATES = 80  # copy variants tried before giving up on a source that leaves too little once checked
PARALLEL_TASKS = 8
T = TypeVar("T")


class SocialRequestError(ValueError):
    """A request the agent cannot serve as asked (400 with ``code``); picklable, so it crosses Serve handles as itself."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code, self.message = code, message


@dataclass
class _Reading:
    """What the agent reads of a post or comment before deciding and writing."""

    signals: Signals
    sentiment: SentimentResult
    intent: IntentResult
    safe_reply: str | None  # the input screen's answer to a blocked message


class _Spend:
    """Tokens and cost of every model call behind one response."""

    def __init__(self) -> None:
        self.model = "offline"
        self.input_tokens = self.output_tokens = 0
        self.cost_usd = 0.0

    def add(self, response: LLMResponse) -> LLMResponse:
        self.model = "offline" if response.offline else response.model
        self.input_tokens += response.usage.input_tokens
        self.output_tokens += response.usage.output_tokens
        self.cost_usd += response.cost_usd
        return response

    def merge(self, other: Spend) -> None:
        if other.model != "offline":
            self.model = other.model
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd

    def fields(self) -> dict[str, Any]:
        return {"model": self.model, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cost_usd": round(self.cost_usd, 8)}


async def _bounded(calls: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
    """The calls' results in order, at most PARALLEL_TASKS at a time."""
    gate = asyncio.Semaphore(PARALLEL_TASKS)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(call) for call in calls)))


class SocialAgent:
    def __init__(self, llm: LLMClient, compliance: ComplianceService, config_dir: Path) -> None:
        """``config_dir``: the templates, styles and policy (``social/``), and the sentiment lexicon."""
        self._llm = llm
        self._compliance = compliance
        self._directory = config_dir / "social"
        self._config = SocialConfig.load(self._directory)
        self._lexicon = load_lexicon(config_dir / "sentiment" / "lexicon.yaml")
        self._analyst = CustomerAnalyst(llm, config_dir)

    # ---- configuration ---------------------------------------------------------------------------------

    async def reload(self, method: ReloadMethod) -> ReloadResult:
        """Re-reads ``configs/social/`` (and the analysis config); a file that does not validate raises ValueError
        and the running version stays."""
        config = SocialConfig.load(self._directory)
        self._analyst.reload()
        self._config = config
        return ReloadResult(method=method, version=config.version,
                            message=f"social templates reloaded from {self._directory.name}/ (version {config.version})")

    async def policy(self) -> ActionPolicy:
        return self._config.policy

    # ---- reading ---------------------------------------------------------------------------------------

    async def _read(self, text: str, terms: frozenset[str], policy: ActionPolicy, counts: dict[str, int]) -> _Reading:
        screen = await self._compliance.check(ComplianceInput(text=text, channel="social", direction="input"))

        def read() -> _Reading:
            sentiment = analyse_offline(self._lexicon, text)
            intent = detect_intent(IntentInput(text=text))
            matched = mentioned(text, terms)
            signals = Signals(
                relevance=round(min(1.0, len(matched) / policy.relevance.terms_for_full), 3),
                engagement=round(engagement(policy, counts), 3),
                intent={"none": 0.0, "weak": 0.5, "strong": 1.0}[intent.strength],
                negative=sentiment.label == "negative",
                blocked=screen.verdict == "blocked",
                matched_terms=matched[:10],
            )
            return _Reading(signals, sentiment, intent, screen.safe_reply)

        return await off_the_loop(len(text), read)

    @staticmethod
    def _terms(brand: Brand, product_prompt: str) -> frozenset[str]:
        return brand_terms([*offline_copy.prompt_terms(product_prompt), *brand.terms])

    # ---- writing ---------------------------------------------------------------------------------------

    def _request(self, task: str, brand: Brand, style: PlatformStyle, kind: TextKind | None, product_prompt: str,
                 instruction: str | None, schema: dict[str, Any] | None = None, **values: object) -> LLMRequest:
        templates = self._config.templates.llm
        hashtags = style.hashtags_allowed(kind) if kind else 0
        system = fill(
            templates.system, platform=style.name, tone=style.tone, limit=style.limit(kind) if kind else 1000,
            emoji_max=style.emoji.max, product_prompt=product_prompt.strip() or "（未提供）", instruction=instruction or "",
            hashtag_rule=f"最多带{hashtags}个话题标签（#话题）。" if hashtags else "不要带话题标签（#）。",
        )
        return LLMRequest(messages=[ChatMessage(role="user", content=fill(getattr(templates, task), **values))],
                          system=system, tenant_id=brand.tenant_id or None, lane=brand.lane, json_schema=schema)

    async def _write(self, request: LLMRequest, offline: Callable[[], str], guard: OutputGuard,
                     shape: Callable[[str], str], spend: _Spend) -> str:
        """One checked text: the model's draft, its regeneration with the violations as feedback, or the offline one."""
        response = spend.add(await self._llm.complete(request))
        if not response.offline:
            text = await guard.clean(response.content, shape, KEEP_AT_LEAST)
            if text.strip():
                return text
            text = await guard.clean(spend.add(await self._llm.complete(_with_feedback(request, guard))).content, shape, KEEP_AT_LEAST)
            if text.strip():
                return text
        return (await guard.clean(offline(), shape)).strip() or FALLBACK_TEXT

    async def _fixed(self, body: SocialBody, guard: OutputGuard, shape: Callable[[str], str]) -> str | None:
        """The fixed text (comment_type 1) as the checks leave it; None when nothing of it may be published."""
        return (await guard.clean(body.fixed_text(), shape)).strip() or None

    def _style(self, platform: Platform) -> PlatformStyle:
        return self._config.styles.platforms[platform]

    # ---- comment and reply -----------------------------------------------------------------------------

    async def comment(self, request: CommentRequest, brand: Brand) -> CommentResult:
        """Actions on a post by the policy; the comment itself when the policy comments (action 3)."""
        _refuse_missing_fixed_text(request)
        policy = self._config.policy.tuned(request.policy)
        task = request.task
        counts = task.model_dump(exclude={"product_content"})
        terms = self._terms(brand, request.product_prompt)
        reading = await self._read(task.product_content, terms, policy, counts)
        decision = decide(policy, "comment", request.platform, reading.signals)
        spend = _Spend()
        message = None
        if COMMENT in decision.actions:
            style = self._style(request.platform)
            guard = OutputGuard(self._compliance, "social", brand.rules)

            def shape(text: str) -> str:
                return fit(text, style, "comment")

            if request.comment_type == 1:
                message = await self._fixed(request, guard, shape)
            else:
                llm = self._request("comment", brand, style, "comment", request.product_prompt, request.comment_prompt,
                                    content=task.product_content)
                offline = partial(offline_copy.comment, self._config.templates.offline, request.platform, task.product_content,
                                  reading.signals.matched_terms)
                message = await self._write(llm, offline, guard, shape, spend)
        return CommentResult(actions=decision.actions, message=message, reasons=decision.reasons, signals=reading.signals,
                             **spend.fields())

    async def reply(self, request: ReplyRequest, brand: Brand) -> ReplyResult:
        """One result per task, in the order given."""
        _refuse_missing_fixed_text(request)
        _refuse_repeated_ids([task.id for task in request.task_list])
        policy = self._config.policy.tuned(request.policy)
        terms = self._terms(brand, request.product_prompt)
        spend = _Spend()
        tasks = await _bounded(partial(self._reply_one, request, task, policy, terms, brand, spend) for task in request.task_list)
        return ReplyResult(tasks=tasks, **spend.fields())

    async def _reply_one(self, request: ReplyRequest, task: ReplyTask, policy: ActionPolicy, terms: frozenset[str],
                         brand: Brand, spend: _Spend) -> ReplyTaskResult:
        reading = await self._read(task.reply_content, terms, policy, {})
        decision = decide(policy, "reply", request.platform, reading.signals)
        message = None
        if COMMENT in decision.actions:
            message = await self._answer(request, "reply", task.reply_content + ("（附图片）" if task.file_url else ""),
                                         reading, brand, spend)
        return ReplyTaskResult(id=task.id, actions=decision.actions, message=message, reasons=decision.reasons)

    async def _answer(self, body: SocialBody, kind: Literal["reply", "chat"], text: str, reading: _Reading, brand: Brand,
                      spend: _Spend, instruction: str | None = None) -> str | None:
        """A reply to a comment or a private message, in the platform's style, checked."""
        style = self._style(body.platform)
        guard = OutputGuard(self._compliance, "social", brand.rules)

        def shape(draft: str) -> str:
            return fit(draft, style, kind)

        if body.comment_type == 1:
            return await self._fixed(body, guard, shape)
        reply_kind = _reply_kind(reading, text)
        banks = self._config.templates.offline
        offline = (lambda: offline_copy.reply(banks, style, text, reply_kind)) if kind == "reply" else (
            lambda: offline_copy.chat(banks, style, text, reply_kind, reading.signals.matched_terms))
        llm = self._request(kind, brand, style, kind, body.product_prompt, instruction or body.comment_prompt,
                            content=text)
        return await self._write(llm, offline, guard, shape, spend)

    async def chat(self, request: ChatRequest, brand: Brand) -> ChatResult:
        _refuse_missing_fixed_text(request)
        policy = self._config.policy
        reading = await self._read(request.content, self._terms(brand, request.product_prompt), policy, {})
        spend = _Spend()
        if reading.signals.blocked and request.comment_type == 0:
            return ChatResult(message=reading.safe_reply or FALLBACK_TEXT, **spend.fields())
        message = await self._answer(request, "chat", request.content, reading, brand, spend, request.chat_prompt)
        if message is None:
            raise SocialRequestError("FIXED_TEXT_NOT_COMPLIANT", "the fixed text breaks the compliance rules and nothing of "
                                     "it may be sent; check it with POST /v1/compliance/check")
        return ChatResult(message=message, **spend.fields())

    # ---- moments ---------------------------------------------------------------------------------------

    async def moments(self, request: MomentsRequest, brand: Brand, customers: dict[str, MomentCustomer]) -> MomentsResult:
        """A comment on each customer's moment, personalised from ``customers`` (by thread id) where known."""
        _refuse_repeated_ids([task.id for task in request.task_list])
        if empty := [task.id for task in request.task_list if not (task.moment_content or "").strip() and not task.url_list]:
            raise SocialRequestError("EMPTY_MOMENT", f"moments {empty} have neither moment_content nor url_list")
        style = self._style("moments")
        spend = _Spend()

        async def one(task: MomentTask) -> MomentTaskResult:
            customer = customers.get(task.thread_id or "") or MomentCustomer()
            content = (task.moment_content or "").strip()
            guard = OutputGuard(self._compliance, "social", brand.rules)
            profile = "；".join(text for _, text in customer.facts) or "暂无"
            written = offline_copy.moment(self._config.templates.offline, style, content, len(task.url_list), customer.facts)
            llm = self._request("moments", brand, style, "moments", request.product_prompt, None, profile=profile,
                                content=content or f"（{len(task.url_list)}张照片）")
            message = await self._write(llm, lambda: written[0], guard, lambda text: fit(text, style, "moments"), spend)
            return MomentTaskResult(id=task.id, message=message, personalised=bool(customer.facts))

        tasks = await _bounded(partial(one, task) for task in request.task_list)
        return MomentsResult(tasks=tasks, **spend.fields())

    # ---- keywords --------------------------------------------------------------------------------------

    async def keywords(self, request: KeywordsRequest, brand: Brand) -> KeywordsResult:
        """Exactly ``expecting_count`` keywords, none a repeat of another or of ``existing_keywords`` (ignoring case,
        spaces and punctuation), each 2 to 20 characters and approved by output compliance."""
        terms = [*offline_copy.prompt_terms(request.product_prompt), *brand.products[:20]]
        style = self._style(request.platform)
        schema = {"type": "object", "required": ["keywords", "summary"], "properties": {
            "keywords": {"type": "array", "items": {"type": "string"}, "maxItems": 40},
            "summary": {"type": "string"}}}
        llm = self._request("keywords", brand, style, None, request.product_prompt, None, schema,
                            count=request.expecting_count, existing="、".join(request.existing_keywords) or "（无）")
        spend = _Spend()
        response = spend.add(await self._llm.complete(llm))
        drafted = [] if response.offline else [str(k) for k in response.data["keywords"]]
        banks = self._config.templates.offline
        candidates = iter([*drafted, *offline_copy.keyword_candidates(banks, terms)])
        seen = {offline_copy.normalised(keyword) for keyword in request.existing_keywords}
        chosen: list[str] = []
        while len(chosen) < request.expecting_count:
            batch = _fresh(candidates, seen, request.expecting_count - len(chosen) + 5)
            if not batch:
                break
            chosen += await self._approved_lines(batch, "social", brand.rules)
        chosen = chosen[: request.expecting_count]
        if len(chosen) < request.expecting_count:
            raise SocialRequestError("KEYWORDS_EXHAUSTED", f"only {len(chosen)} new keywords are left after removing the "
                                     "existing ones; send fewer existing_keywords or a lower expecting_count")
        summary = "" if response.offline else str(response.data.get("summary", ""))
        guard = OutputGuard(self._compliance, "social", brand.rules)
        summary = (await guard.clean(summary)).strip() if summary.strip() else ""
        summary = summary or offline_copy.keywords_summary(banks, terms, len(chosen))
        return KeywordsResult(keywords=chosen, count=len(chosen), summary=summary, **spend.fields())

    async def _approved_lines(self, lines: list[str], channel: Channel, rules: BrandRules | None) -> list[str]:
        """The lines output compliance (with the tenant's ``rules``) has nothing against, checked together in one call."""
        text = "\n".join(lines)
        verdict = await self._compliance.check(ComplianceInput(text=text, channel=channel, direction="output", brand=rules))
        spans = [(v.span.start, v.span.end) for v in verdict.violations]
        kept, start = [], 0
        for line in lines:
            end = start + len(line)
            if not any(s < end and start < e for s, e in spans):
                kept.append(line)
            start = end + 1
        return kept

    # ---- beautify --------------------------------------------------------------------------------------

    async def beautify(self, request: BeautifyRequest, brand: Brand) -> BeautifyResult:
        """``result_count`` variants that differ from each other: shorter than the source (compress) or longer (expand)."""
        source = request.source_text.strip()
        compress = request.action_type == 1
        if compress and len(source) < MIN_COMPRESS_CHARS:
            raise SocialRequestError("SOURCE_TOO_SHORT", f"a text under {MIN_COMPRESS_CHARS} characters has nothing to compress")
        style = self._style(request.platform)
        longest = len(source) - 1 if compress else len(source) + max(200, len(source))

        def shape(text: str) -> str:
            return fit(text, style.model_copy(update={"limits": {**style.limits, "beautify": longest}}), "beautify")

        def fits(text: str) -> bool:
            return len(text) < len(source) if compress else len(text) > len(source)

        schema = {"type": "object", "required": ["variants"], "properties": {
            "variants": {"type": "array", "items": {"type": "string"}, "minItems": request.result_count,
                         "maxItems": request.result_count}}}
        llm = self._request("beautify", brand, style, "beautify", "", None, schema, count=request.result_count,
                            mode="压缩精简（必须比原文短）" if compress else "扩写丰富（必须比原文长）", source=source,
                            source_length=len(source), wanted_style=request.style or "自然")
        spend = _Spend()
        response = spend.add(await self._llm.complete(llm))
        banks = self._config.templates.offline
        terms = offline_copy.prompt_terms(source) + brand.products[:3]
        offline = offline_copy.compressions(banks, source) if compress else offline_copy.expansions(banks, style, source, terms)
        drafted = [] if response.offline else [str(variant) for variant in response.data["variants"]]
        guard = OutputGuard(self._compliance, "social", brand.rules)
        variants = await self._variants(iter(drafted), request.result_count, shape, fits, guard, drafts=True)
        variants = await self._variants(offline, request.result_count, shape, fits, guard, variants)
        if len(variants) < request.result_count:
            raise SocialRequestError("SOURCE_NOT_COMPLIANT", "too little of the source text passes the compliance rules to "
                                     f"write {request.result_count} variants; check it with POST /v1/compliance/check")
        return BeautifyResult(response=variants, action_type=request.action_type, source_length=len(source), **spend.fields())

    async def _variants(self, candidates: Iterator[str], count: int, shape: Callable[[str], str], fits: Callable[[str], bool],
                        guard: OutputGuard, taken: list[str] = [], drafts: bool = False) -> list[str]:  # noqa: B006
        """``taken`` and then checked candidates that fit and differ from all before them, up to ``count`` in all.
        A model's ``drafts`` count only when their compliant rewrite keeps most of them (``KEEP_AT_LEAST``)."""
        variants = list(taken)
        seen = {offline_copy.normalised(text) for text in variants}
        for _, candidate in zip(range(MAX_CANDIDATES), candidates):
            if len(variants) >= count:
                break
            text = (await guard.clean(candidate, shape, KEEP_AT_LEAST if drafts else 0.0)).strip()
            key = offline_copy.normalised(text)
            if text and key not in seen and fits(text):
                seen.add(key)
                variants.append(text)
        return variants

    # ---- marketing plans -------------------------------------------------------------------------------

    async def plan(self, request: PlanRequest, brand: Brand) -> PlanResult:
        """A plan and three distinct options, each approved by output compliance; a draft with a part too far gone to
        rewrite is regenerated once with the violations as feedback, and what is still missing comes from the templates."""
        started = time.perf_counter()
        schema = {"type": "object", "required": ["response", "options"], "properties": {
            "response": {"type": "string"},
            "options": {"type": "array", "minItems": 3, "maxItems": 3, "items": {"type": "string"}}}}
        llm = self._request("plan", brand, self._style("rednote"), None, "、".join(brand.products[:20]), None,
                            schema, content=request.content)
        spend = _Spend()
        # Plans become posts and campaign copy: checked on the social channel (advertising rules and contact diversion).
        guard = OutputGuard(self._compliance, "social", brand.rules)
        summary: list[str] = []
        options: list[str] = []
        for attempt in (llm, None):
            response = spend.add(await self._llm.complete(attempt or _with_feedback(llm, guard)))
            if response.offline:
                break
            summary = await self._variants(iter([str(response.data["response"])]), 1, str.strip, bool, guard, summary, True)
            options = await self._variants(iter(map(str, response.data["options"])), 3, str.strip, bool, guard, options, True)
            if summary and len(options) == 3:
                break
        terms = mentioned(request.content, self._terms(brand, "")) or offline_copy.prompt_terms(request.content)
        offline_summary, offline_options = offline_copy.plan(self._config.templates.offline, (terms or ["品牌项目"])[0])
        summary = await self._variants(iter([offline_summary, FALLBACK_TEXT]), 1, str.strip, bool, guard, summary)
        options = await self._variants(iter(offline_options), 3, str.strip, bool, guard, options)
        return PlanResult(
            request_id=request.request_id or str(uuid.uuid4()), response=summary[0],
            options=[PlanOption(option_id=index, content=text) for index, text in enumerate(options, start=1)],
            processing_time=round(time.perf_counter() - started, 3), **spend.fields(),
        )

    # ---- campaigns -------------------------------------------------------------------------------------

    async def outreach(self, file: CustomerFile, brand: Brand) -> OutreachResult:
        """A re-engagement message for the thread's customer, from their rule-based profile and the catalog, checked
        for a private chat (the brand's system sends it, over WeChat or SMS)."""
        insight = await self._analyst.insight(file)
        style = self._style("moments")
        name = file.customer.display_name
        profile = "；".join([*insight.interested_services[:3], *insight.concerns[:3], *insight.treatments_done[:2]]) or "暂无"
        llm = self._request("campaign", brand, style, "chat", "、".join(brand.products[:20]), None, profile=profile,
                            products="、".join(brand.products[:10]) or "（未提供）")
        spend = _Spend()
        written = offline_copy.outreach(self._config.templates.offline, name, insight.interested_services, insight.concerns)
        message = await self._write(llm, lambda: written, OutputGuard(self._compliance, "chat", brand.rules),
                                    lambda text: fit(text, style, "chat"), spend)
        return OutreachResult(thread_id=file.thread_id, message=message,
                              personalised=bool(insight.interested_services or insight.concerns), **spend.fields())

    # ---- customer analysis -----------------------------------------------------------------------------

    async def profile(self, file: CustomerFile) -> ProfileResult:
        return await self._analyst.profile(file)

    async def report(self, file: CustomerFile) -> ReportResult:
        return await self._analyst.report(file)

    async def labels(self, file: CustomerFile) -> LabelResult:
        return await self._analyst.labels(file)


def _refuse_missing_fixed_text(body: SocialBody) -> None:
    if body.comment_type == 1 and not body.fixed_text():
        raise SocialRequestError("FIXED_TEXT_REQUIRED", "comment_type 1 sends a fixed text: give it in comment_prompt "
                                 "(or chat_prompt for chat)")


def _refuse_repeated_ids(ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        raise SocialRequestError("DUPLICATE_TASK_ID", "task ids must be unique: each answer is matched to its task by id")


def _with_feedback(request: LLMRequest, guard: OutputGuard) -> LLMRequest:
    """``request`` again, told what was wrong with its last draft."""
    problems = "\n".join(f"- {problem}" for problem in guard.feedback()) or "- 上一稿没有可用内容"
    return request.model_copy(update={"system": f"{request.system}\n\n【上一稿的问题（这次必须避免）】\n{problems}"})


def _fresh(candidates: Iterator[str], seen: set[str], count: int) -> list[str]:
    """Up to ``count`` next candidates of 2 to 20 characters that differ from everything seen (and are marked seen)."""
    batch: list[str] = []
    for candidate in candidates:
        keyword = candidate.strip()
        key = offline_copy.normalised(keyword)
        if 2 <= len(keyword) <= 20 and key and key not in seen:
            seen.add(key)
            batch.append(keyword)
            if len(batch) == count:
                break
    return batch


def _reply_kind(reading: _Reading, text: str) -> offline_copy.ReplyKind:
    """Which of the offline replies answers this comment or message."""
    assets = reading.intent.asset_requests
    if reading.sentiment.label == "negative":
        return "negative"
    for asset, kind in (("price_list", "price"), ("cases", "cases"), ("address", "address")):
        if asset in assets:
            return kind  # type: ignore[return-value]
    if reading.intent.strength != "none":
        return "booking"
    if offline_copy.QUESTION.search(text):
        return "question"
    return "positive" if reading.sentiment.label == "positive" else "neutral"
