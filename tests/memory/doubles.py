"""Test doubles for the memory tests, named for what they stand in for."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from memory.types import TurnMessage


class InMemoryTranscript:
    """Stands in for the durable transcript (the relational messages table): a list per (tenant, thread)."""

    def __init__(self) -> None:
        self.threads: dict[tuple[str, str], list[TurnMessage]] = defaultdict(list)

    def write(self, tenant_id: str, thread_id: str, *turn: tuple[str, str]) -> list[TurnMessage]:
        """Persist a turn, as the API does before calling remember_turn; returns its messages."""
        messages = [TurnMessage(role=role, content=content) for role, content in turn]  # type: ignore[arg-type]
        self.threads[tenant_id, thread_id].extend(messages)
        return messages

    async def count(self, tenant_id: str, thread_id: str) -> int:
        await asyncio.sleep(0)  # a real reader awaits the database: let other tasks interleave
        return len(self.threads[tenant_id, thread_id])

    async def read(self, tenant_id: str, thread_id: str, offset: int, limit: int) -> list[TurnMessage]:
        await asyncio.sleep(0)
        return self.threads[tenant_id, thread_id][offset : offset + limit]

    async def tail(self, tenant_id: str, thread_id: str, limit: int) -> list[TurnMessage]:
        await asyncio.sleep(0)
        return self.threads[tenant_id, thread_id][-limit:]


class ScriptedSummariser:
    """Stands in for the LLM summariser: returns ``reply``, or raises it when it is an exception."""

    def __init__(self) -> None:
        self.reply: str | Exception = "LLM 摘要"
        self.calls: list[list[TurnMessage]] = []

    async def __call__(self, messages: list[TurnMessage]) -> str:
        self.calls.append(messages)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply
