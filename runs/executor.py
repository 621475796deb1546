"""Executes a stored run: reads the turn's context, holds the thread lease, runs the graph, stores the outcome.

The same code runs ``wait`` and ``stream`` runs in the replica that accepted
them and ``async`` runs in a worker. A run is stored and executed in a task of
its own, detached from the request (and from Ray Serve's request context,
whose cancellation would otherwise reach every handle call the run makes), so
a client that disconnects at any moment does not stop the run: its turn is
stored either way. The customer's input and the reply are written together,
with the run's completion, in one transaction; the memory write follows in
the background.

A run cancelled through the store (``RunStore.cancel``: by the cancel endpoint, or by a newer run's multitask
strategy) is aborted here: at once when it executes in this process (``abort``), else at its next lease renewal.
Its events end with ``run.cancelled``, and what it would have stored is refused by ``complete``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from agents.graph import GraphEvent, ReplicaLost, TurnInput, TurnResult
from agents.handoff import SELF_HARM, HandoffRules
from agents.output_guard import AgentUnavailable
from agents.sales import Suggestions
from llm.errors import LLMError
from memory.types import TurnMessage
from runs import observed
from runs.context import TurnContext
from runs.errors import ServiceError, ThreadBusy
from runs.observed import RunClock
from runs.run_events import RunEvents
from store.models import Run
from store.runs import RunStore
from store.transcript import message_text
from telemetry.tracing import NoTracer, Tracer

log = logging.getLogger("mas.runs")
GRAPH_ATTEMPTS = 3
_PUBLIC_AGENTS = ("sentiment", "intent", "memory", "products", "sales")


class Graph(Protocol):
    def run(self, turn: TurnInput) -> AsyncIterator[GraphEvent]: ...

    async def suggest(self, turn: TurnInput) -> Suggestions: ...


class MemoryWriter(Protocol):
    async def remember_turn(self, tenant_id: str, thread_id: str, messages: list[TurnMessage]) -> Any: ...


@dataclass
class RunEvent:
    """What a run reports as it goes: the SSE event name and its JSON body."""

    name: str
    data: dict[str, Any]
    status: int = 200
    id: int | None = None  # its seq in the run's event log (the SSE id a client resumes from)


class RunTakenOver(Exception):
    """The run was finished elsewhere before this execution could store it (its lease or claim had expired and
    the run was failed as abandoned, or another worker took it over): this execution's reply is dropped unseen."""


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The status and envelope ``error`` object a failed run reports (LLM errors keep theirs)."""
    if isinstance(exc, LLMError):
        return exc.status, {"code": exc.code, "message": exc.message, "details": exc.details}
    if isinstance(exc, ServiceError):
        return exc.status, {"code": exc.code, "message": exc.message, "details": exc.details}
    if isinstance(exc, AgentUnavailable):
        return 503, {"code": "AGENT_UNAVAILABLE", "message": str(exc), "details": {"agent": exc.agent}}
    if isinstance(exc, RunTakenOver):
        return 503, {"code": "RUN_TAKEN_OVER", "message": "the run's lease expired before its reply was stored; "
                     "the reply was dropped (send the turn again)", "details": {}}
    if isinstance(exc, ReplicaLost):
        return 503, {"code": "REPLICA_LOST", "message": f"a replica serving the run died: {exc}", "details": {}}
    return 500, {"code": "INTERNAL_ERROR", "message": "the run failed unexpectedly", "details": {}}


def _flagged(result: TurnResult, category: str) -> bool:
    """The input compliance check found ``category`` in the customer's message."""
    step = result.agents.get("compliance_input")
    output = step.output if step is not None and isinstance(step.output, dict) else {}
    return any(violation.get("category") == category for violation in output.get("violations", []))


def result_body(run: Run, result: TurnResult, clock: RunClock) -> dict[str, Any]:
    steps = {name: step.model_dump(mode="json", exclude={"agent"}) for name, step in result.agents.items()}
    agents = {"compliance": {"input": steps.get("compliance_input"), "output": steps.get("compliance_output")}}
    agents.update({name: steps[name] for name in _PUBLIC_AGENTS if name in steps})
    timings = clock.timings(result)
    return {
        "run_id": run.run_id,
        "thread_id": run.thread_id,
        "status": "completed",
        "response": result.response,
        "model": result.model,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "cost_usd": result.cost_usd,
        "processing_time": round(timings["total_ms"] / 1000, 3),
        "invitation": result.invitation.model_dump(mode="json"),
        "blocked": result.blocked,
        "agents": agents,
        "timings": timings,
    }


class RunExecutor:
    def __init__(self, runs: RunStore, context: TurnContext, graph: Graph, memory: MemoryWriter, lease_seconds: float,
                 events: RunEvents, handoff: HandoffRules, tracer: Tracer | None = None) -> None:
        self._runs = runs
        self._handoff = handoff
        self._events = events
        self._tracer = tracer or NoTracer()
        self._context = context
        self._graph = graph
        self._memory = memory
        self._lease_s = lease_seconds
        self._background: set[asyncio.Task[Any]] = set()
        self._executing: dict[str, asyncio.Task[Any]] = {}
        self._aborted: dict[str, dict[str, Any]] = {}
        self._ended: dict[tuple[str, str], asyncio.Event] = {}

    def abort(self, run_id: str, reason: dict[str, Any]) -> bool:
        """Stop the execution of ``run_id`` in this process, if any (it was cancelled in the store): its graph, and
        the LLM generation under it, are cancelled, and its events end with ``run.cancelled`` and ``reason``."""
        task = self._executing.get(run_id)
        if task is None:
            return False
        self._aborted[run_id] = reason
        task.cancel()
        return True

    async def wait_free(self, tenant_id: str, thread_id: str, timeout_s: float) -> None:
        """Returns when a run on the thread ends in this process, or after ``timeout_s`` (one in another may end)."""
        ended = self._ended.setdefault((tenant_id, thread_id), asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await ended.wait()

    async def suggest(self, run: Run) -> Suggestions:
        """Replies a human agent could send for ``run``'s input (an unsaved run: nothing is stored)."""
        return await self._graph.suggest(await self._context.turn(run))

    async def start(self, begin: Awaitable[Run]) -> tuple[Run, AsyncIterator[RunEvent]]:
        """Stores the run (``begin``: takes the thread lease, creates the row) and runs it, both in a detached task.

        Raises what ``begin`` raises (409 THREAD_BUSY, 404); else returns the run and its events to follow. If the
        caller is cancelled (its client went away) at any point, the run is still stored, executed and completed.
        """
        queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        stored: asyncio.Future[Run] = asyncio.get_running_loop().create_future()
        stored.add_done_callback(lambda future: future.cancelled() or future.exception())  # retrieved even if nobody waits

        async def store_and_execute() -> None:
            try:
                run = await begin
            except BaseException as exc:
                if isinstance(exc, ThreadBusy):
                    observed.busy(exc.mode, exc.tenant_id)
                stored.set_exception(exc)
                return
            stored.set_result(run)
            await self._execute(run, queue.put_nowait)

        self._spawn(store_and_execute())
        run = await asyncio.shield(stored)

        async def follow() -> AsyncIterator[RunEvent]:
            while (event := await queue.get()) is not None:
                yield event

        return run, follow()

    async def execute(self, run: Run) -> None:
        """Runs ``run`` to its end: the async worker's entry point (the worker holds and renews the thread lease)."""
        await self._execute(run, lambda event: None, keep_lease=False)

    async def _execute(self, run: Run, send: Callable[[RunEvent | None], None], keep_lease: bool = True) -> None:
        def emit(event: RunEvent | None) -> None:
            if event is None:
                self._events.finish(run)
            else:
                event.id = self._events.record(run, event.name, event.data)
            send(event)

        store, clock, turn = self._runs, RunClock.start(run), None
        keeper = asyncio.create_task(self._keep_lease(run)) if keep_lease else None
        self._executing[run.run_id] = asyncio.current_task()  # type: ignore[assignment]
        try:
            emit(RunEvent("run.started", {"run_id": run.run_id, "thread_id": run.thread_id, "status": "running"}))
            turn = await self._context.turn(run)
            clock.context_ms = clock.graph_at_ms = clock.now_ms()
            messages = [{"role": m["role"], "content": m["content"]} for m in run.input]
            with_person = turn.customer.handoff_reason
            if reason := with_person or self._handoff.reason(run.tenant_id, turn.text):
                await self._hand_off(run, clock, turn, messages, reason, emit, new=with_person is None)
                return
            result = await self._run_graph(turn, emit, replayable=run.mode != "stream")
            body = result_body(run, result, clock)
            persist_began = clock.now_ms()
            at_risk = SELF_HARM in self._handoff.enabled(run.tenant_id) and _flagged(result, SELF_HARM)
            if not await store.complete(run, result=body, model=result.model, input_tokens=result.input_tokens,
                                        output_tokens=result.output_tokens, cost_usd=result.cost_usd,
                                        messages=[*messages, {"role": "assistant", "content": result.response}],
                                        handoff=SELF_HARM if at_risk else None):
                raise RunTakenOver(run.run_id)
            clock.persist_ms = round(clock.now_ms() - persist_began, 2)
            emit(RunEvent("run.completed", body))
            self._report(run, clock, turn, result)
            self._spawn(self._remember(run, result.response))
        except asyncio.CancelledError:
            if (reason := self._aborted.pop(run.run_id, None)) is None:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            self._cancelled(run, clock, turn, reason, emit)
        except Exception as exc:
            if isinstance(exc, RunTakenOver) and (now := await store.get(run.tenant_id, run.thread_id, run.run_id)) \
                    and now.status == "cancelled":
                self._cancelled(run, clock, turn, now.error or {}, emit)
                return
            status, error = error_body(exc)
            if status >= 500 and not isinstance(exc, (LLMError, AgentUnavailable, ReplicaLost, RunTakenOver)):
                log.exception("run %s of tenant %s failed", run.run_id, run.tenant_id)
            await store.fail(run, {**error, "status": status})  # a no-op when the run was already finished
            emit(RunEvent("run.failed", {"run_id": run.run_id, "thread_id": run.thread_id, "status": "failed", "error": error}, status))
            self._report(run, clock, turn, error={**error, "status": status})
        finally:
            self._executing.pop(run.run_id, None)
            self._aborted.pop(run.run_id, None)
            if (ended := self._ended.pop((run.tenant_id, run.thread_id), None)) is not None:
                ended.set()
            if keeper is not None:
                keeper.cancel()
            emit(None)

    async def _hand_off(self, run: Run, clock: RunClock, turn: TurnInput, messages: list[dict[str, Any]], reason: str,
                        emit: Callable[[RunEvent | None], None], new: bool) -> None:
        """The thread is with a person (``new``: a hand-off rule sends it there now): the customer's messages are
        stored, no AI reply is made, and the run ends ``handoff`` (its webhook tells the brand's system)."""
        body = {"run_id": run.run_id, "thread_id": run.thread_id, "status": "handoff", "response": None,
                "handoff_reason": reason}
        if not await self._runs.complete(run, result=body, model=None, input_tokens=0, output_tokens=0, cost_usd=0.0,
                                         messages=messages, status="handoff", handoff=reason if new else None):
            raise RunTakenOver(run.run_id)
        emit(RunEvent("run.completed", body))
        self._report(run, clock, turn)
        self._spawn(self._remember(run, None))

    def _cancelled(self, run: Run, clock: RunClock, turn: TurnInput | None, reason: dict[str, Any],
                   emit: Callable[[RunEvent | None], None]) -> None:
        emit(RunEvent("run.cancelled", {"run_id": run.run_id, "thread_id": run.thread_id, "status": "cancelled",
                                        "error": reason}, 409))
        self._report(run, clock, turn, error={**reason, "status": 409})

    async def _run_graph(self, turn: TurnInput, emit: Callable[[RunEvent | None], None], replayable: bool) -> TurnResult:
        """The graph's result, its events emitted as they come. When a replica it needed died mid-call (the run's
        graph, or a required agent, is lost), the graph is run again, up to GRAPH_ATTEMPTS times, if nobody has seen
        its events yet (``replayable``: a wait or async run, or a stream before its first agent event)."""
        attempt = 1
        while True:
            seen = False
            try:
                async for event in self._graph.run(turn):
                    if event.kind == "agent" and event.step is not None:
                        seen = True
                        emit(RunEvent("agent.completed", event.step.model_dump(mode="json")))
                    elif event.kind == "delta":
                        seen = True
                        emit(RunEvent("message.delta", {"delta": event.delta}))
                    elif event.result is not None:
                        return event.result
                raise RuntimeError("the graph ended without a result")
            except (ReplicaLost, AgentUnavailable) as exc:
                if attempt == GRAPH_ATTEMPTS or (seen and not replayable):
                    raise
                attempt += 1
                log.warning("run %s of tenant %s: %s; running its graph again (attempt %d)", turn.run_id, turn.tenant_id,
                            type(exc).__name__, attempt)

    def _report(self, run: Run, clock: RunClock, turn: TurnInput | None, result: TurnResult | None = None,
                error: dict[str, Any] | None = None) -> None:
        """Metrics, log line and trace of a run that ended, once its caller has been woken: they never delay a reply."""
        asyncio.get_running_loop().call_soon(lambda: observed.finished(run, clock, self._tracer, turn, result, error))

    async def _keep_lease(self, run: Run) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            if not await self._runs.renew_thread(run.tenant_id, run.thread_id, run.run_id, self._lease_s):
                now = await self._runs.get(run.tenant_id, run.thread_id, run.run_id)
                if now is not None and now.status == "cancelled":  # by a request another replica answered
                    self.abort(run.run_id, now.error or {})
                else:
                    log.warning("run %s of tenant %s lost its thread lease", run.run_id, run.tenant_id)
                return

    def remember_input(self, run: Run) -> None:
        """Memory's write of a cancelled run's input, kept unanswered in the transcript (``interrupt``), in the
        background: its facts and window count as the customer said them."""
        self._spawn(self._remember(run, None))

    async def _remember(self, run: Run, reply: str | None) -> None:
        turn = [TurnMessage(role=m["role"], content=text) for m in run.input if (text := message_text(m["content"]))]
        if reply is not None:
            turn.append(TurnMessage(role="assistant", content=reply))
        try:
            await self._memory.remember_turn(run.tenant_id, run.thread_id, turn)
        except Exception:
            log.exception("memory write after run %s of tenant %s failed", run.run_id, run.tenant_id)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Runs ``work`` in a task with a fresh context: nothing of the request that started it can cancel it."""
        task = asyncio.get_running_loop().create_task(work, context=contextvars.Context())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Lets runs in flight finish (at shutdown); whatever is left is cancelled and its lease expires."""
        if self._background:
            _, pending = await asyncio.wait(set(self._background), timeout=timeout_s)
            for task in pending:
                task.cancel()
