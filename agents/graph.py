"""The chat graph of one customer turn, defined once and run in-process or on Ray Serve.

    input compliance ─┬─ sentiment ─┐
    (blocked: safe    ├─ intent ────┤
     reply, no LLM)   ├─ memory ────┼─► sales (LLM, streamed) ─► output compliance, whole sentences
                      └─ products ──┘

The agents are whatever ``AgentSet`` holds: local agent objects, or Serve
handle clients with the same methods (the ``Workflow`` deployment in
``deployments/agents.py``). Optional
nodes that fail or time out degrade the run (recorded with the reason);
input compliance and the LLM call fail it.

Output compliance checks the reply as it streams, each time a delta completes
one or more sentences, so no unchecked text ever reaches the customer: a
violating passage is replaced by the compliance agent's rewrite (itself
re-checked), which drops what cannot be softened. When nothing
usable survives, the reply is regenerated once with the violations as
feedback, and checked again.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from agents.compliance import Channel, ComplianceInput
from agents.compliance_brand import BrandRules
from agents.intent import CatalogService, IntentInput, IntentResult, Invitation
from agents.output_guard import AgentUnavailable, ComplianceService, OutputGuard
from agents.product import ProductQuery, ProductResult
from agents.prompt_config import PromptConfig
from agents.sales import AssistantProfile, CustomerProfile, SalesInput, Suggestions
from agents.sentiment import SentimentInput, SentimentResult
from llm.types import LLMResponse, StreamEvent
from memory.types import Recall
from telemetry import metrics
from telemetry.metrics import record as record_metric

StepStatus = Literal["ok", "degraded", "skipped"]
OPTIONAL_AGENTS = ("sentiment", "intent", "memory", "products")
FALLBACK_REPLY = "您好，您的问题我已经收到，稍后由顾问为您详细解答，感谢耐心等待。"
_SENTENCE_END = re.compile(r"[。！？!?；;\n]")
MAX_SENTENCE_CHARS = 200
RECALL_K = 5
PRODUCTS_K = 3
PRODUCT_CONTEXT_MESSAGES = 2


class TurnInput(BaseModel):
    """One customer turn, with what the executor read from the relational store."""

    run_id: str
    tenant_id: str
    thread_id: str
    text: str = Field(min_length=1, description="The customer's message(s) of this turn.")
    recent: list[str] = Field(default_factory=list, description="The customer's earlier messages, oldest first.")
    assistant: AssistantProfile
    prompt: PromptConfig | None = None
    prompt_version: int | None = Field(default=None, description="The active prompt version (traces); None: none stored.")
    customer: CustomerProfile = CustomerProfile()
    catalog: list[CatalogService] = []
    model: str | None = None
    now: datetime
    channel: Channel = "chat"
    brand: BrandRules | None = Field(default=None, description="The tenant's active compliance rules, for the reply's checks.")


class AgentStep(BaseModel):
    agent: str
    status: StepStatus
    latency_ms: float
    started_ms: float = Field(default=0.0, description="When the step started, in ms after the turn's graph began.")
    output: dict[str, Any] | None = None
    reason: str | None = Field(default=None, description="Why the step was degraded or skipped.")


class TurnTimings(BaseModel):
    """Where the graph's time went, in ms (the run record's ``timings`` with the executor's own phases)."""

    agents_ms: float = Field(default=0.0, description="Input compliance and the parallel agents, until sales started.")
    first_token_ms: float | None = Field(default=None, description="Sales call to the reply's first text, as the graph saw it.")
    engine_first_token_ms: float | None = Field(default=None, description="The engine's own time to first token (router).")
    router_overhead_ms: float | None = Field(
        default=None, description="first_token_ms - engine_first_token_ms: handle hops, routing, admission.")
    generation_ms: float = Field(default=0.0, description="Sales call to the reply's end, output checks included.")


class TurnResult(BaseModel):
    response: str
    model: str | None = None
    provider: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    invitation: Invitation = Invitation()
    blocked: bool = Field(default=False, description="Input compliance blocked the message; the reply is its safe reply.")
    agents: dict[str, AgentStep]
    timings: TurnTimings = TurnTimings()


class GraphEvent(BaseModel):
    kind: Literal["agent", "delta", "completed"]
    step: AgentStep | None = None
    delta: str = ""
    result: TurnResult | None = None


class ReplicaLost(ConnectionError):
    """A remote component (a Serve replica) died with a call in flight, and the call could not be retried.

    Its work may or may not have happened: callers retry only what they can redo unseen (a ``wait`` run)."""


class SentimentService(Protocol):
    async def analyse(self, request: SentimentInput) -> SentimentResult: ...


class IntentService(Protocol):
    async def detect(self, request: IntentInput) -> IntentResult: ...


class MemoryRecall(Protocol):
    async def recall(self, tenant_id: str, thread_id: str, query: str, k: int = 5) -> Recall: ...


class ProductService(Protocol):
    async def retrieve(self, request: ProductQuery) -> ProductResult: ...


class SalesService(Protocol):
    def reply(self, sales: SalesInput) -> AsyncIterator[StreamEvent]: ...

    async def complete(self, sales: SalesInput) -> LLMResponse: ...

    async def suggest(self, sales: SalesInput) -> Suggestions: ...


@dataclass
class AgentSet:
    compliance: ComplianceService
    sentiment: SentimentService
    intent: IntentService
    memory: MemoryRecall
    products: ProductService
    sales: SalesService


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _observed(step: AgentStep) -> AgentStep:
    """``step``, its latency recorded in ``mas_agent_latency_seconds`` (skipped steps took no time to count)."""
    if step.status != "skipped":
        record_metric(metrics.AGENT_LATENCY, step.latency_ms / 1000, agent=step.agent, status=step.status)
    return step


def _dump(result: BaseModel) -> dict[str, Any]:
    return result.model_dump(mode="json")


def split_sentences(buffer: str) -> tuple[list[str], str]:
    """Complete sentences (with their end mark) and the unfinished rest; an overlong run-on is cut anyway."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(buffer):
        sentences.append(buffer[start : match.end()])
        start = match.end()
    rest = buffer[start:]
    if len(rest) > MAX_SENTENCE_CHARS:
        sentences.append(rest)
        rest = ""
    return sentences, rest


def product_query(turn: TurnInput) -> str:
    """This message and the customer's previous ones: "价格多少？" asks about what they just named."""
    return "\n".join([*turn.recent[-PRODUCT_CONTEXT_MESSAGES:], turn.text])


class ChatGraph:
    def __init__(self, agents: AgentSet, optional_timeout_s: float = 10.0) -> None:
        self._agents = agents
        self._timeout_s = optional_timeout_s

    async def run(self, turn: TurnInput) -> AsyncIterator[GraphEvent]:
        """``agent`` events as nodes finish, ``delta`` events of checked reply text, then ``completed``."""
        steps: dict[str, AgentStep] = {}
        began = time.perf_counter()

        def record(step: AgentStep) -> GraphEvent:
            steps[step.agent] = _observed(step)
            return GraphEvent(kind="agent", step=step)

        started = began
        try:
            screen = await self._agents.compliance.check(ComplianceInput(text=turn.text, channel=turn.channel, direction="input"))
        except Exception as exc:
            raise AgentUnavailable("compliance", f"{type(exc).__name__}: {exc}") from exc
        yield record(AgentStep(agent="compliance_input", status="ok", latency_ms=_elapsed_ms(started), output=_dump(screen)))
        if screen.verdict == "blocked":
            for name in (*OPTIONAL_AGENTS, "sales", "compliance_output"):
                yield record(AgentStep(agent=name, status="skipped", latency_ms=0, reason="input compliance blocked the message"))
            reply = screen.safe_reply or FALLBACK_REPLY
            yield GraphEvent(kind="delta", delta=reply)
            yield GraphEvent(kind="completed", result=TurnResult(response=reply, blocked=True, agents=steps))
            return

        findings: dict[str, Any] = {}
        async for name, step, value in self._optional_nodes(turn, began):
            findings[name] = value
            yield record(step)

        sales_input = self._sales_input(turn, findings)
        guard = OutputGuard(self._agents.compliance, turn.channel, turn.brand)
        responses: list[LLMResponse] = []
        started = time.perf_counter()
        sales_started_ms = _elapsed_ms(began)
        first_text: list[float] = []  # the sales call to the first text it streamed, in ms
        parts: list[str] = []
        async for piece in self._guarded(self._agents.sales.reply(sales_input), guard, responses, started, first_text):
            parts.append(piece)
            yield GraphEvent(kind="delta", delta=piece)
        regenerated = False
        if not "".join(parts).strip():
            regenerated = True
            retry = sales_input.model_copy(update={"feedback": guard.feedback()})
            response = await self._agents.sales.complete(retry)
            responses.append(response)
            reply = (await guard.clean(response.content)).strip() or FALLBACK_REPLY
            yield GraphEvent(kind="delta", delta=reply)
        else:
            reply = "".join(parts)
        final = responses[-1]
        timings = _timings(sales_started_ms, first_text, responses[0], _elapsed_ms(started))
        yield record(AgentStep(agent="sales", status="ok", latency_ms=timings.generation_ms, started_ms=sales_started_ms, output={
            "model": final.model, "provider": final.provider, "attempts": [a.model_dump() for a in final.attempts],
            "regenerated": regenerated, "calls": [_call(response) for response in responses],
        }))
        yield record(AgentStep(agent="compliance_output", status="ok", latency_ms=round(guard.elapsed_ms, 2),
                               started_ms=sales_started_ms, output={
            "verdict": "approved" if not guard.violations else "rewritten",
            "checks": guard.checks,
            "violations": [_dump(v) for v in guard.violations],
        }))
        # Every LLM call of the turn: the reply (and its regeneration), and sentiment in LLM mode.
        sentiment: SentimentResult | None = findings.get("sentiment")
        calls = [(r.usage.input_tokens, r.usage.output_tokens, r.cost_usd) for r in responses]
        if sentiment is not None:
            calls.append((sentiment.input_tokens, sentiment.output_tokens, sentiment.cost_usd))
        yield GraphEvent(kind="completed", result=TurnResult(
            response=reply.strip(),
            model=final.model,
            provider=final.provider,
            input_tokens=sum(call[0] for call in calls),
            output_tokens=sum(call[1] for call in calls),
            cost_usd=round(sum(call[2] for call in calls), 8),
            invitation=findings["intent"].invitation if findings.get("intent") else Invitation(),
            agents=steps,
            timings=timings,
        ))

    async def suggest(self, turn: TurnInput) -> Suggestions:
        """Replies a human agent could send, each passed through output compliance (rewritten where needed)."""
        findings: dict[str, Any] = {}
        async for name, _, value in self._optional_nodes(turn, time.perf_counter()):
            findings[name] = value
        suggestions = await self._agents.sales.suggest(self._sales_input(turn, findings))
        guard = OutputGuard(self._agents.compliance, turn.channel, turn.brand)
        cleaned = []
        for reply in suggestions.replies:
            cleaned.append((await guard.clean(reply)).strip() or FALLBACK_REPLY)
        return suggestions.model_copy(update={"replies": cleaned})

    async def _guarded(self, events: AsyncIterator[StreamEvent], guard: OutputGuard, responses: list[LLMResponse],
                       started: float, first_text: list[float]) -> AsyncIterator[str]:
        """The checked text of ``events``; ``first_text`` gets the time from ``started`` to their first text."""
        buffer = ""
        async for event in events:
            if event.response is not None:
                responses.append(event.response)
            if event.delta and not first_text:
                first_text.append(_elapsed_ms(started))
            buffer += event.delta
            sentences, buffer = split_sentences(buffer)
            # The sentences completed by this delta, checked together: one call, however many arrived.
            if sentences and (clean := await guard.clean("".join(sentences))):
                yield clean
        if clean := await guard.clean(buffer):
            yield clean

    def _optional_calls(self, turn: TurnInput) -> dict[str, Callable[[], Awaitable[Any]]]:
        agents = self._agents
        return {
            "sentiment": lambda: agents.sentiment.analyse(SentimentInput(text=turn.text, history=turn.recent)),
            "intent": lambda: agents.intent.detect(
                IntentInput(text=turn.text, history=turn.recent, now=turn.now, catalog=turn.catalog)
            ),
            "memory": lambda: agents.memory.recall(turn.tenant_id, turn.thread_id, turn.text, RECALL_K),
            "products": lambda: agents.products.retrieve(
                ProductQuery(tenant_id=turn.tenant_id, query=product_query(turn), k=PRODUCTS_K)
            ),
        }

    async def _optional_nodes(self, turn: TurnInput, began: float) -> AsyncIterator[tuple[str, AgentStep, Any]]:
        """Runs the optional agents concurrently; yields (name, step, result or None) as each finishes."""

        async def node(name: str, call: Callable[[], Awaitable[Any]]) -> tuple[str, AgentStep, Any]:
            started = time.perf_counter()
            at = {"started_ms": round((started - began) * 1000, 2)}
            try:
                value = await asyncio.wait_for(call(), self._timeout_s)
            except asyncio.TimeoutError:
                reason, cause = f"timed out after {self._timeout_s:g} s", "timeout"
            except Exception as exc:  # an optional node never fails the run
                reason, cause = f"{type(exc).__name__}: {exc}", "error"
            else:
                return name, AgentStep(agent=name, status="ok", latency_ms=_elapsed_ms(started), output=_dump(value), **at), value
            record_metric(metrics.AGENT_DEGRADED, agent=name, cause=cause)
            return name, AgentStep(agent=name, status="degraded", latency_ms=_elapsed_ms(started), reason=reason, **at), None

        tasks = [asyncio.ensure_future(node(name, call)) for name, call in self._optional_calls(turn).items()]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()

    @staticmethod
    def _sales_input(turn: TurnInput, findings: dict[str, Any]) -> SalesInput:
        recall: Recall | None = findings.get("memory")
        products: ProductResult | None = findings.get("products")
        return SalesInput(
            tenant_id=turn.tenant_id,
            text=turn.text,
            assistant=turn.assistant,
            prompt=turn.prompt,
            customer=turn.customer,
            history=recall.window if recall else [],
            memories=[scored.memory.text for scored in recall.memories] if recall else [],
            products=products.products if products else [],
            sentiment=findings.get("sentiment"),
            intent=findings.get("intent"),
            model=turn.model,
            now=turn.now,
        )


def _call(response: LLMResponse) -> dict[str, Any]:
    """One LLM call of the sales step, for the run record and its trace's generation."""
    return {"model": response.model, "provider": response.provider, "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens, "cost_usd": response.cost_usd,
            "latency_ms": round(response.latency_ms, 2), "first_token_ms": response.first_token_ms}


def _timings(sales_started_ms: float, first_text: list[float], first: LLMResponse, generation_ms: float) -> TurnTimings:
    """The turn's latency split; the router's overhead is what the graph waited for the first text beyond the engine's own
    time to first token (both of the first reply, not a regeneration), recorded in ``mas_llm_router_overhead_seconds``."""
    seen = first_text[0] if first_text else None
    engine = first.first_token_ms
    overhead = round(seen - engine, 2) if seen is not None and engine is not None else None
    if overhead is not None:
        record_metric(metrics.ROUTER_OVERHEAD, max(overhead, 0.0) / 1000, model=first.model)
    return TurnTimings(agents_ms=sales_started_ms, first_token_ms=seen, engine_first_token_ms=engine,
                       router_overhead_ms=overhead, generation_ms=generation_ms)
