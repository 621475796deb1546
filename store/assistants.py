"""Assistants (personas) of one tenant; deletion is soft so runs and prompts keep their history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import Assistant, utcnow


def live_assistant(tenant_id: str, assistant_id: str):  # type: ignore[no-untyped-def]
    """The select for one assistant of this tenant that is not deleted."""
    return select(Assistant).where(
        Assistant.tenant_id == tenant_id, Assistant.assistant_id == assistant_id, Assistant.deleted_at.is_(None)
    )


class AssistantStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, tenant_id: str, fields: dict[str, Any]) -> Assistant:
        assistant = Assistant(tenant_id=tenant_id, **fields)
        async with self._sessions.begin() as session:
            session.add(assistant)
        return assistant

    async def get(self, tenant_id: str, assistant_id: str) -> Assistant | None:
        async with self._sessions() as session:
            return await session.scalar(live_assistant(tenant_id, assistant_id))

    async def page(self, tenant_id: str, offset: int, limit: int, status: str | None = None) -> tuple[list[Assistant], int]:
        where = [Assistant.tenant_id == tenant_id, Assistant.deleted_at.is_(None)]
        if status:
            where.append(Assistant.status == status)
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(Assistant).where(*where))
            rows = await session.scalars(
                select(Assistant).where(*where).order_by(Assistant.created_at.desc(), Assistant.assistant_id).offset(offset).limit(limit)
            )
            return list(rows), int(total or 0)

    async def update(self, tenant_id: str, assistant_id: str, fields: dict[str, Any]) -> Assistant | None:
        async with self._sessions.begin() as session:
            assistant = await session.scalar(live_assistant(tenant_id, assistant_id).with_for_update())
            if assistant is None:
                return None
            for name, value in fields.items():
                setattr(assistant, name, value)
            return assistant

    async def delete(self, tenant_id: str, assistant_id: str) -> bool:
        async with self._sessions.begin() as session:
            assistant = await session.scalar(live_assistant(tenant_id, assistant_id).with_for_update())
            if assistant is None:
                return False
            assistant.deleted_at = utcnow()
            assistant.status = "DELETED"
            return True
