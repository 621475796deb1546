"""What a new run does while another is active on its thread (its ``multitask_strategy``), and run cancellation.

- ``reject``: the new run is refused (409 THREAD_BUSY);
- ``enqueue``: it waits for the thread (for at most ``MAS_RUN_ENQUEUE_SECONDS``, then 409), and runs after the
  active one; runs waiting in one process take the thread in the order they arrived;
- ``interrupt``: the active run is cancelled, its customer messages are stored unanswered, and the new run
  answers them with its own (``runs.context``);
- ``rollback``: the active run is cancelled and its input dropped, as if it had never been sent;
- ``merge``: the messages of a burst (each within the assistant's debounce window of the one before, up to
  ``MERGE_MAX_WINDOWS`` windows or ``MERGE_MAX_MESSAGES`` messages) are answered by one run, started when the burst
  ends (after the active run, as ``enqueue``); every caller of the burst gets that run's events. A burst gathers in
  the process its messages reach (on Serve, the ``Ingress``): messages spread over several replicas make one run each.

Interrupt and rollback cancel only a run that was there before the new one arrived; one that came later makes the
new run wait its turn instead (messages that race are all answered, none cancels the other in turn).

A cancellation is a compare-and-set in the store, so it holds whichever replica executes the run; the executor of
this process is told at once (``RunExecutor.abort``), another one at its next lease renewal.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from runs.executor import RunExecutor
from store.models import Run, new_id, utcnow
from store.runs import RunStore

Strategy = Literal["reject", "enqueue", "interrupt", "rollback", "merge"]
RUN_CANCELLED = "RUN_CANCELLED"
T = TypeVar("T")
MERGE_MAX_MESSAGES = 50  # a run's input holds at most 50 messages
MERGE_MAX_WINDOWS = 5  # a customer who keeps typing is answered after this many windows anyway
_TAKEOVER_TRIES = 3  # another new run may take the thread between the cancel and ours: try again, then give up
_MESSAGES = {
    "cancel": "the run was cancelled",
    "interrupt": "a newer message interrupted the run; the newer run answers both",
    "rollback": "a newer message replaced the run; its input was dropped",
}


def cancel_reason(by: str, successor: str | None = None) -> dict[str, Any]:
    """The error object a cancelled run shows: who cancelled it and, for a strategy, the run that took its place."""
    details: dict[str, Any] = {"by": by} | ({"run_id": successor} if successor else {})
    return {"code": RUN_CANCELLED, "message": _MESSAGES[by], "details": details}


@dataclass
class _Burst:
    """Messages gathering for one merged run, and the callers waiting for its events."""

    messages: list[dict[str, Any]]
    followers: list[asyncio.Queue[Any]]
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class _Line:
    """The runs of one process waiting for one thread, in arrival order (``asyncio.Lock`` wakes waiters FIFO)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.waiting = 0


class Multitask:
    def __init__(self, runs: RunStore, executor: RunExecutor, enqueue_seconds: float, poll_seconds: float) -> None:
        self._runs = runs
        self._executor = executor
        self._enqueue_s = enqueue_seconds
        self._poll_s = poll_seconds
        self._lines: dict[tuple[str, str], _Line] = {}
        self._bursts: dict[tuple[str, str], _Burst] = {}
        self._gathering: set[asyncio.Task[None]] = set()

    async def merged(self, tenant_id: str, thread_id: str, messages: list[dict[str, Any]], window_s: float,
                     launch: Callable[[list[dict[str, Any]]], Awaitable[tuple[Run, AsyncIterator[T]]]]
                     ) -> tuple[Run, AsyncIterator[T]]:
        """Joins ``messages`` to the thread's burst (opening one if none is gathering), and returns the run that
        answers the burst, once ``launch(all messages)`` has started it, with its events."""
        key = (tenant_id, thread_id)
        queue: asyncio.Queue[T | None] = asyncio.Queue()
        burst = self._bursts.get(key)
        if burst is not None and len(burst.messages) + len(messages) <= MERGE_MAX_MESSAGES:
            burst.messages.extend(messages)
            burst.followers.append(queue)
            burst.arrived.set()
        else:
            burst = self._bursts[key] = _Burst(list(messages), [queue])
            task = asyncio.get_running_loop().create_task(self._gather(key, burst, window_s, launch),
                                                          context=contextvars.Context())
            self._gathering.add(task)
            task.add_done_callback(self._gathering.discard)
        run = await asyncio.shield(burst.started)

        async def follow() -> AsyncIterator[T]:
            while (event := await queue.get()) is not None:
                yield event

        return run, follow()

    async def _gather(self, key: tuple[str, str], burst: _Burst, window_s: float,
                      launch: Callable[[list[dict[str, Any]]], Awaitable[tuple[Run, AsyncIterator[Any]]]]) -> None:
        """Waits for the burst to end (a window without a new message), then starts its run and fans its events
        out to every caller; a failure to start reaches every caller."""
        for _ in range(MERGE_MAX_WINDOWS):
            burst.arrived.clear()
            try:
                async with asyncio.timeout(window_s):
                    await burst.arrived.wait()
            except TimeoutError:
                break
            if len(burst.messages) >= MERGE_MAX_MESSAGES:
                break
        if self._bursts.get(key) is burst:
            del self._bursts[key]
        try:
            run, events = await launch(burst.messages)
        except BaseException as exc:
            burst.started.set_exception(exc)
            burst.started.exception()  # retrieved here too: no warning when every caller is gone
            return
        burst.started.set_result(run)
        try:
            async for event in events:
                for queue in burst.followers:
                    queue.put_nowait(event)
        finally:
            for queue in burst.followers:
                queue.put_nowait(None)

    async def begin(self, tenant_id: str, thread_id: str, strategy: Strategy,
                    start: Callable[[str], Awaitable[Run | None]]) -> Run | None:
        """The new run, once it holds the thread (``start(run_id)`` takes the lease and stores the run, or returns
        None when the thread is busy); None when the strategy gives up (the caller answers 409 THREAD_BUSY)."""
        run_id, arrived = new_id(), utcnow()
        if strategy in ("reject", "interrupt", "rollback"):  # merge reaches here for its merged run: it enqueues
            for _ in range(_TAKEOVER_TRIES):
                if (run := await start(run_id)) is not None or strategy == "reject":
                    return run
                if not await self.supersede(tenant_id, thread_id, strategy, run_id, arrived):
                    break
        return await self._in_line(tenant_id, thread_id, lambda: start(run_id))

    async def supersede(self, tenant_id: str, thread_id: str, strategy: Strategy, successor: str,
                        arrived: datetime | None = None) -> bool:
        """Cancel the run holding the thread for the new run ``successor`` (interrupt, rollback), unless it came after
        ``arrived``: of messages that race, the newest answers and the others wait their turn (enqueue), so two
        interrupting runs never cancel each other in turn. False when a newer run holds the thread."""
        holder = await self._runs.holder(tenant_id, thread_id)
        if holder is None or strategy not in ("interrupt", "rollback"):
            return True
        if arrived is not None and holder.created_at >= arrived:
            return False
        await self.cancel(holder, strategy, successor)
        return True

    async def cancel(self, run: Run, by: str = "cancel", successor: str | None = None) -> bool:
        """End ``run`` as cancelled and free its thread at once; False when it had already finished."""
        reason = cancel_reason(by, successor)
        if not await self._runs.cancel(run, reason, keep_input=by == "interrupt"):
            return False
        self._executor.abort(run.run_id, reason)
        if by == "interrupt":
            self._executor.remember_input(run)
        return True

    async def _in_line(self, tenant_id: str, thread_id: str, start: Callable[[], Awaitable[Run | None]]) -> Run | None:
        """``start()`` once the runs ahead of it in this process have started and the thread is free; None after
        ``enqueue_seconds``. The deadline only interrupts waits: a ``start`` is never cut off mid-transaction."""
        key = (tenant_id, thread_id)
        line = self._lines.setdefault(key, _Line())
        line.waiting += 1
        deadline = asyncio.get_running_loop().time() + self._enqueue_s
        try:
            try:
                async with asyncio.timeout(self._enqueue_s):
                    await line.lock.acquire()
            except TimeoutError:
                return None
            try:
                while (run := await start()) is None:
                    if (left := deadline - asyncio.get_running_loop().time()) <= 0:
                        return None
                    await self._executor.wait_free(tenant_id, thread_id, min(self._poll_s, left))
                return run
            finally:
                line.lock.release()
        finally:
            line.waiting -= 1
            if not line.waiting:
                del self._lines[key]
