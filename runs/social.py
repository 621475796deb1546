"""The Social agent as the API and batch jobs use it: each request gets the tenant's brand terms and compliance
rules, a moment's author
their thread's facts, a customer analysis the thread's transcript and memories. Tenant-scoped throughout: a thread
of another tenant is not found."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from datetime import datetime, timezone
from typing import TypeVar

from agents.sales import CustomerProfile
from agents.social.actions import ActionPolicy
from agents.social.agent import SocialAgent, SocialRequestError
from agents.social.analysis import CustomerFile, LabelResult, ProfileResult, ReportResult
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
    OutreachResult,
    PlanRequest,
    PlanResult,
    ReloadMethod,
    ReloadResult,
    ReplyRequest,
    ReplyResult,
)
from llm.types import Lane
from memory.service import PROFILE_QUERY, MemoryService
from memory.types import MemoryRecord
from runs.compliance_rules import ComplianceRules
from runs.errors import ServiceError
from store.models import Thread
from store.products import ProductStore
from store.threads import ThreadStore
from store.transcript import ThreadTranscript

log = logging.getLogger("mas.social")
BRAND_TTL_S = 30.0
TRANSCRIPT_MESSAGES = 200
THREAD_MEMORIES = 50
T = TypeVar("T")


async def _refusals(call: Awaitable[T]) -> T:
    """The agent's refusals as the API's 400s."""
    try:
        return await call
    except SocialRequestError as exc:
        raise ServiceError(400, exc.code, exc.message) from None


class SocialService:
    def __init__(self, agent: SocialAgent, threads: ThreadStore, transcript: ThreadTranscript, products: ProductStore,
                 memory: MemoryService, rules: ComplianceRules, lane: Lane = "live") -> None:
        """``lane``: ``batch`` for batch jobs, whose model calls count against the tenant's limits apart from live traffic."""
        self._agent, self._threads, self._transcript = agent, threads, transcript
        self._products, self._memory, self._rules, self._lane = products, memory, rules, lane
        self._brands: dict[str, tuple[float, Brand]] = {}

    async def brand(self, tenant_id: str) -> Brand:
        """The tenant's catalog terms, re-read at most every BRAND_TTL_S, and its active compliance rules (which
        ``ComplianceRules`` re-reads on its own, shorter, schedule)."""
        cached = self._brands.get(tenant_id)
        if cached is not None and time.monotonic() - cached[0] < BRAND_TTL_S:
            brand = cached[1]
        else:
            rows = await self._products.vocabulary(tenant_id)
            terms = [term for row in rows for term in (row["name"], *row["aliases"], row["category"], *row["tags"], *row["indications"])]
            brand = Brand(tenant_id=tenant_id, terms=terms[:20_000], products=[row["name"] for row in rows][:5_000], lane=self._lane)
            self._brands[tenant_id] = (time.monotonic(), brand)
        return brand.model_copy(update={"rules": await self._rules.active(tenant_id)})

    async def comment(self, tenant_id: str, request: CommentRequest) -> CommentResult:
        return await _refusals(self._agent.comment(request, await self.brand(tenant_id)))

    async def reply(self, tenant_id: str, request: ReplyRequest) -> ReplyResult:
        return await _refusals(self._agent.reply(request, await self.brand(tenant_id)))

    async def keywords(self, tenant_id: str, request: KeywordsRequest) -> KeywordsResult:
        return await _refusals(self._agent.keywords(request, await self.brand(tenant_id)))

    async def chat(self, tenant_id: str, request: ChatRequest) -> ChatResult:
        return await _refusals(self._agent.chat(request, await self.brand(tenant_id)))

    async def beautify(self, tenant_id: str, request: BeautifyRequest) -> BeautifyResult:
        return await _refusals(self._agent.beautify(request, await self.brand(tenant_id)))

    async def plan(self, tenant_id: str, request: PlanRequest) -> PlanResult:
        return await _refusals(self._agent.plan(request, await self.brand(tenant_id)))

    async def moments(self, tenant_id: str, request: MomentsRequest) -> MomentsResult:
        """404 THREAD_NOT_FOUND when a task names a thread this tenant does not have."""
        customers: dict[str, MomentCustomer] = {}
        for thread_id in dict.fromkeys(task.thread_id for task in request.task_list if task.thread_id):
            thread = await self._thread(tenant_id, thread_id)
            facts = [(record.tags[0] if record.tags else "fact", record.text)
                     for record in await self._memories(tenant_id, thread_id) if record.memory_type == "episodic"]
            customers[thread_id] = MomentCustomer(name=thread.real_name or thread.nickname, facts=facts[:50])
        return await _refusals(self._agent.moments(request, await self.brand(tenant_id), customers))

    async def policy(self) -> ActionPolicy:
        return await self._agent.policy()

    async def reload(self, method: ReloadMethod) -> ReloadResult:
        """Every replica of the Social agent re-reads its templates (``runs.reloads``); 400 when they do not validate."""
        try:
            return await self._agent.reload(method)
        except ValueError as exc:
            raise ServiceError(400, "TEMPLATES_INVALID", f"the templates on disk were not loaded: {exc}") from None

    async def outreach(self, tenant_id: str, thread_id: str) -> OutreachResult:
        """A re-engagement draft for the thread's customer (the ``campaign`` batch kind)."""
        file, brand = await self.customer_file(tenant_id, thread_id), await self.brand(tenant_id)
        return await _refusals(self._agent.outreach(file, brand))

    # ---- customer analysis -----------------------------------------------------------------------------

    async def profile(self, tenant_id: str, thread_id: str) -> ProfileResult:
        return await self._agent.profile(await self.customer_file(tenant_id, thread_id))

    async def report(self, tenant_id: str, thread_id: str) -> ReportResult:
        return await self._agent.report(await self.customer_file(tenant_id, thread_id))

    async def labels(self, tenant_id: str, thread_id: str) -> LabelResult:
        return await self._agent.labels(await self.customer_file(tenant_id, thread_id))

    async def customer_file(self, tenant_id: str, thread_id: str) -> CustomerFile:
        """The thread's customer, its last TRANSCRIPT_MESSAGES messages and its memories."""
        thread = await self._thread(tenant_id, thread_id)
        total = await self._transcript.count(tenant_id, thread_id)
        messages = await self._transcript.read(tenant_id, thread_id, max(0, total - TRANSCRIPT_MESSAGES), TRANSCRIPT_MESSAGES)
        services = await self._products.services(tenant_id)
        return CustomerFile(
            tenant_id=tenant_id, thread_id=thread_id, customer=CustomerProfile.model_validate(thread, from_attributes=True),
            messages=messages, memories=[record.text for record in await self._memories(tenant_id, thread_id)],
            catalog=services[:10_000], now=datetime.now(timezone.utc),
        )

    async def _thread(self, tenant_id: str, thread_id: str) -> Thread:
        thread = await self._threads.get(tenant_id, thread_id)
        if thread is None:
            raise ServiceError(404, "THREAD_NOT_FOUND", f"thread '{thread_id}' not found")
        return thread

    async def _memories(self, tenant_id: str, thread_id: str) -> list[MemoryRecord]:
        """The thread's standing memories; none (logged) while memory is unreachable: the transcript still tells a lot."""
        try:
            hits = await self._memory.search(tenant_id, PROFILE_QUERY, thread_id, THREAD_MEMORIES)
        except Exception:
            log.warning("memory unavailable: analysing thread %s from its transcript alone", thread_id, exc_info=True)
            return []
        return [hit.memory for hit in hits]
