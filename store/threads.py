"""Customer threads of one tenant and their durable message transcript."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Update, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import Message, Thread, utcnow


def handed_off(tenant_id: str, thread_id: str, reason: str, now: datetime) -> Update:
    """Hands the thread to a person, unless it already is with one: the first reason stands."""
    return (update(Thread)
            .where(Thread.tenant_id == tenant_id, Thread.thread_id == thread_id, Thread.handoff_at.is_(None))
            .values(handoff_reason=reason, handoff_at=now)
            .execution_options(synchronize_session=False))


class ThreadStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, tenant_id: str, fields: dict[str, Any]) -> Thread:
        thread = Thread(tenant_id=tenant_id, **fields)
        async with self._sessions.begin() as session:
            session.add(thread)
        return thread

    async def get(self, tenant_id: str, thread_id: str) -> Thread | None:
        async with self._sessions() as session:
            return await session.scalar(select(Thread).where(Thread.tenant_id == tenant_id, Thread.thread_id == thread_id))

    async def page(self, tenant_id: str, offset: int, limit: int, handed_off: bool | None = None) -> tuple[list[Thread], int]:
        """The tenant's threads, most recently active first; ``handed_off``: only those with (or without) a person."""
        where = [Thread.tenant_id == tenant_id]
        if handed_off is not None:
            where.append(Thread.handoff_at.is_not(None) if handed_off else Thread.handoff_at.is_(None))
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(Thread).where(*where))
            rows = await session.scalars(select(Thread).where(*where)
                                         .order_by(Thread.updated_at.desc(), Thread.thread_id).offset(offset).limit(limit))
            return list(rows), int(total or 0)

    async def update(self, tenant_id: str, thread_id: str, fields: dict[str, Any]) -> Thread | None:
        async with self._sessions.begin() as session:
            thread = await session.scalar(
                select(Thread).where(Thread.tenant_id == tenant_id, Thread.thread_id == thread_id).with_for_update()
            )
            if thread is None:
                return None
            for name, value in fields.items():
                setattr(thread, name, value)
            return thread

    async def hand_off(self, tenant_id: str, thread_id: str, reason: str) -> Thread | None:
        """The thread, handed to a person (``handed_off``); None when it is not the tenant's."""
        async with self._sessions.begin() as session:
            await session.execute(handed_off(tenant_id, thread_id, reason, utcnow()))
        return await self.get(tenant_id, thread_id)

    async def add_message(self, tenant_id: str, thread_id: str, *, role: str, content: Any, author: str | None) -> Message | None:
        """Append one message to the thread's transcript; None when the thread is not the tenant's."""
        async with self._sessions.begin() as session:
            if await session.scalar(select(Thread.thread_id).where(Thread.tenant_id == tenant_id, Thread.thread_id == thread_id)) is None:
                return None
            message = Message(tenant_id=tenant_id, thread_id=thread_id, role=role, content=content, author=author)
            session.add(message)
        return message

    async def messages(self, tenant_id: str, thread_id: str, limit: int, before: str | None = None) -> list[Message] | None:
        """Up to ``limit`` messages older than ``before`` (a message id), newest first.

        None when ``before`` names no message of this thread.
        """
        where = [Message.tenant_id == tenant_id, Message.thread_id == thread_id]
        async with self._sessions() as session:
            if before is not None:
                cursor = await session.scalar(select(Message.seq).where(*where, Message.message_id == before))
                if cursor is None:
                    return None
                where.append(Message.seq < cursor)
            rows = await session.scalars(select(Message).where(*where).order_by(Message.seq.desc()).limit(limit))
            return list(rows)

    async def inactive(self, tenant_id: str, before: datetime, limit: int) -> list[str]:
        """Ids of the tenant's threads not updated since ``before`` (a campaign's dormant customers), oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(select(Thread.thread_id).where(Thread.tenant_id == tenant_id, Thread.updated_at < before)
                                         .order_by(Thread.updated_at).limit(limit))
            return list(rows)
