"""Merging stream items, so a slow hop carries fewer, larger chunks.

Every item crossing a Serve handle and the HTTP proxy has a fixed cost; a
fast model (vLLM streams thousands of tokens/s) sends one token per item and
the hop, not the model, sets the pace. ``coalesced`` sends the first item at
once, then at most one item per ``min_interval_s``, merging whatever arrived
in between (bench/llm_stream.py: Serve's replica drains a generator as fast
as it yields, so merging only what happens to be waiting never merged
anything). A slow stream (one token per interval or less) passes unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
QUEUE_LIMIT = 1024  # items read ahead of a stalled consumer before the source waits
HOP_INTERVAL_S = 0.02  # between items sent across a deployment hop: 50 items/s per stream, invisible to a reader


@dataclass
class _Failed:
    error: Exception


_END = object()
_NOTHING = object()


async def coalesced(source: AsyncIterator[T], merge: Callable[[T, T], T | None], min_interval_s: float = 0.0) -> AsyncIterator[T]:
    """Items of ``source`` in order; consecutive items combined by ``merge`` (None: keep them apart).

    With ``min_interval_s`` 0 only items already waiting are merged.

    An error in ``source`` is raised after the items that preceded it; closing
    this iterator early stops and closes ``source``.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_LIMIT)

    async def pump() -> None:
        try:
            async with aclosing(source):  # type: ignore[type-var]
                async for item in source:
                    await queue.put(item)
        except Exception as exc:
            await queue.put(_Failed(exc))
        else:
            await queue.put(_END)

    task = asyncio.create_task(pump())
    loop = asyncio.get_running_loop()
    carried: Any = _NOTHING
    send_at = 0.0
    try:
        while True:
            head = await queue.get() if carried is _NOTHING else carried
            carried = _NOTHING
            if head is _END:
                return
            if isinstance(head, _Failed):
                raise head.error
            item = head
            while (ready := await _next_before(queue, send_at - loop.time())) is not _NOTHING:
                combined = None if ready is _END or isinstance(ready, _Failed) else merge(item, ready)
                if combined is None:
                    carried = ready
                    break
                item = combined
            yield item
            send_at = loop.time() + min_interval_s
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _next_before(queue: asyncio.Queue[Any], wait_s: float) -> Any:
    """The next queued item if one is waiting or arrives within ``wait_s``, else _NOTHING."""
    try:
        return queue.get_nowait()
    except asyncio.QueueEmpty:
        if wait_s <= 0:
            return _NOTHING
    try:
        return await asyncio.wait_for(queue.get(), wait_s)
    except TimeoutError:
        return _NOTHING
