"""Merging stream items that are already waiting, so a slow hop carries fewer, larger chunks.

Every item crossing a Serve handle and the HTTP proxy has a fixed cost; a
fast model (vLLM streams thousands of tokens/s) sends one token per item and
the hop, not the model, sets the pace. ``coalesced`` adds no delay: an item
goes out as soon as the consumer asks for it, merged with whatever else has
arrived while the consumer was busy sending the previous one. At low load
that is one token per item, as before; under load items grow by themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
QUEUE_LIMIT = 1024  # items read ahead of a stalled consumer before the source waits


@dataclass
class _Failed:
    error: Exception


_END = object()
_NOTHING = object()


async def coalesced(source: AsyncIterator[T], merge: Callable[[T, T], T | None]) -> AsyncIterator[T]:
    """Items of ``source`` in order; consecutive ready items combined by ``merge`` (None: keep them apart).

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
    carried: Any = _NOTHING
    try:
        while True:
            head = await queue.get() if carried is _NOTHING else carried
            carried = _NOTHING
            if head is _END:
                return
            if isinstance(head, _Failed):
                raise head.error
            item = head
            while (ready := _next_ready(queue)) is not _NOTHING:
                combined = None if ready is _END or isinstance(ready, _Failed) else merge(item, ready)
                if combined is None:
                    carried = ready
                    break
                item = combined
            yield item
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _next_ready(queue: asyncio.Queue[Any]) -> Any:
    try:
        return queue.get_nowait()
    except asyncio.QueueEmpty:
        return _NOTHING
