"""CPU-bound agent work kept off the event loop: a replica's loop also answers Serve's health checks and the other
turns it is serving, and a check of a 20,000-character message takes a good part of a second."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Up to this many characters the work takes a few milliseconds: cheaper to do it than to hop to a thread.
OFFLOAD_CHARS = 1000


async def off_the_loop(chars: int, work: Callable[..., T], *args: object) -> T:
    """``work(*args)``, run in a worker thread when it reads more than ``OFFLOAD_CHARS`` characters."""
    if chars <= OFFLOAD_CHARS:
        return work(*args)
    return await asyncio.to_thread(work, *args)
