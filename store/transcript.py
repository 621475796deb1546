"""The durable transcript as memory reads it: a thread's messages, oldest first, as plain text turns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from memory.types import TurnMessage
from store.models import Message

MEDIA_MARKS = {"input_image": "[图片]", "input_audio": "[语音]"}


def message_text(content: Any) -> str:
    """A message as text, the one rule for agents and memory alike: the string itself, or its parts joined, a mark
    such as ``[图片]`` standing for each image or audio (their content is a URL, not something said)."""
    if isinstance(content, str):
        return content
    return "\n".join(part["content"] if part["type"] == "text" else MEDIA_MARKS[part["type"]] for part in content)


def _said(tenant_id: str, thread_id: str) -> Select[tuple[str, Any, datetime]]:
    """What a thread's messages say, unordered: role, content, time."""
    return select(Message.role, Message.content, Message.created_at).where(
        Message.tenant_id == tenant_id, Message.thread_id == thread_id
    )


class ThreadTranscript:
    """Implements ``memory.transcript.TranscriptReader`` over the relational messages table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def count(self, tenant_id: str, thread_id: str) -> int:
        async with self._sessions() as session:
            total = await session.scalar(
                select(func.count()).select_from(Message).where(Message.tenant_id == tenant_id, Message.thread_id == thread_id)
            )
            return int(total or 0)

    async def read(self, tenant_id: str, thread_id: str, offset: int, limit: int) -> list[TurnMessage]:
        return await self._messages(_said(tenant_id, thread_id).order_by(Message.seq).offset(offset).limit(limit))

    async def tail(self, tenant_id: str, thread_id: str, limit: int) -> list[TurnMessage]:
        return list(reversed(await self._messages(_said(tenant_id, thread_id).order_by(Message.seq.desc()).limit(limit))))

    async def _messages(self, query: Select[tuple[str, Any, datetime]]) -> list[TurnMessage]:
        async with self._sessions() as session:
            rows = await session.execute(query)
            return [TurnMessage(role=role, content=message_text(content), created_at=created_at) for role, content, created_at in rows]
