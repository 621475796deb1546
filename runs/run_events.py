"""A run's events, numbered and kept, so a client can join a running or recently finished run's stream and resume
one it lost (``Last-Event-ID``).

The process executing a run holds its events in memory while it runs, so a client joining there follows it live;
they are also written to the event log (``store.run_events``: Redis when configured, else the relational store) in
small batches, every ``MAS_RUN_EVENTS_FLUSH_SECONDS`` and when the run ends, for a client joining through another
replica, which follows the log (polling it while the run is active). A run's events end with its outcome
(``run.completed``, ``run.failed`` or ``run.cancelled``); when the log no longer holds it (its TTL passed, or the
process died before writing it), the outcome is taken from the run record instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from store.models import Run
from store.run_events import LoggedEvent, RunEventLog
from store.runs import ACTIVE, RunStore

log = logging.getLogger("mas.runs")
OUTCOMES = ("run.completed", "run.failed", "run.cancelled")
LAST_WRITE_GRACE_S = 2.0  # how long a finished run's last events may take to reach the log
ATTEMPT_SPAN = 1_000_000  # an async run executed again (its worker died) numbers its events from attempt x span


@dataclass
class _Live:
    """A run executing in this process: every event so far, those not yet written, and a wake-up for followers."""

    events: list[LoggedEvent] = field(default_factory=list)
    unwritten: list[LoggedEvent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    written: asyncio.Event = field(default_factory=asyncio.Event)  # every event is in the log: follow it there
    done: bool = False

    def wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


def outcome_of(run: Run, seq: int) -> LoggedEvent:
    """The event a finished run's stream ends with, from its record."""
    if run.status == "completed":
        return LoggedEvent(seq, "run.completed", run.result or {})
    body = {"run_id": run.run_id, "thread_id": run.thread_id, "status": run.status, "error": run.error or {}}
    return LoggedEvent(seq, "run.cancelled" if run.status == "cancelled" else "run.failed", body)


class RunEvents:
    def __init__(self, event_log: RunEventLog, runs: RunStore, flush_seconds: float) -> None:
        """``flush_seconds``: how often a run's new events are written, and so how often a follower polls the log."""
        self._log = event_log
        self._runs = runs
        self._flush_s = flush_seconds
        self._live: dict[str, _Live] = {}
        self._writers: set[asyncio.Task[None]] = set()

    def record(self, run: Run, name: str, data: dict[str, Any]) -> int:
        """Keep one event of ``run`` (executing in this process); returns its seq."""
        live = self._live.get(run.run_id)
        if live is None:
            live = self._live[run.run_id] = _Live()
            writer = asyncio.get_running_loop().create_task(self._write(run, live))
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        event = LoggedEvent((max(run.attempts, 1) - 1) * ATTEMPT_SPAN + len(live.events) + 1, name, data)
        live.events.append(event)
        live.unwritten.append(event)
        live.wake()
        return event.seq

    def finish(self, run: Run) -> None:
        """``run`` ended: its last events are written now, and then it is followed from the log."""
        if (live := self._live.get(run.run_id)) is not None:
            live.done = True
            live.wake()

    async def _write(self, run: Run, live: _Live) -> None:
        """Writes ``run``'s events in batches: what came in each ``flush_seconds``, and the rest when it ends."""
        while True:
            if not live.done:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._flush_s):
                        while not live.done:
                            await live.changed.wait()
            batch, live.unwritten = live.unwritten, []
            if batch:
                try:
                    await self._log.append(run.tenant_id, run.run_id, batch)
                except Exception:  # the run goes on; a client joining elsewhere gets its outcome from the record
                    log.exception("run %s of tenant %s: writing %d events failed", run.run_id, run.tenant_id, len(batch))
            if live.done and not live.unwritten:
                del self._live[run.run_id]
                live.written.set()
                return

    async def follow(self, run: Run, after: int = 0) -> AsyncIterator[LoggedEvent]:
        """``run``'s events after seq ``after``, live while it runs, ending with its outcome."""
        finished_at: float | None = None
        while True:
            live = self._live.get(run.run_id)
            if live is not None:
                changed = live.changed
                seen = [event for event in live.events if event.seq > after]
            else:
                seen = await self._log.read(run.tenant_id, run.run_id, after)
            for event in seen:
                yield event
                if event.name in OUTCOMES:
                    return
                after = event.seq
            if live is not None:
                # Once it is done, its last events are being written: the log has them next.
                await (live.written.wait() if live.done else changed.wait())
                continue
            current = await self._runs.get(run.tenant_id, run.thread_id, run.run_id)
            if current is None:
                return
            if current.status not in ACTIVE:
                # Its executor writes the last events just after storing the outcome: wait for them a little, then
                # answer from the record (the log lost them: they expired, or the process died first).
                finished_at = finished_at or asyncio.get_running_loop().time()
                if asyncio.get_running_loop().time() - finished_at > LAST_WRITE_GRACE_S:
                    yield outcome_of(current, after + 1)
                    return
            await asyncio.sleep(self._flush_s)

    async def expire(self) -> int:
        return await self._log.expire()

    async def close(self) -> None:
        if self._writers:
            await asyncio.wait(set(self._writers), timeout=self._flush_s + 5)
        await self._log.close()
