"""The durable transcript that memory reads: the relational messages table, behind one protocol."""

from __future__ import annotations

from typing import Protocol

from memory.types import TurnMessage


class TranscriptReader(Protocol):
    """A thread's messages, in the order they were written, scoped by tenant."""

    async def count(self, tenant_id: str, thread_id: str) -> int: ...

    async def read(self, tenant_id: str, thread_id: str, offset: int, limit: int) -> list[TurnMessage]:
        """Oldest first; ``offset`` counts from the thread's first message."""
        ...

    async def tail(self, tenant_id: str, thread_id: str, limit: int) -> list[TurnMessage]:
        """The last ``limit`` messages, oldest first (one query: no count first)."""
        ...
