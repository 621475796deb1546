"""Versioned prompt configs per assistant: append-only versions 1, 2, 3…, exactly one active."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.assistants import live_assistant
from store.models import PromptVersion
from store.versions import VersionConflict, append_version

__all__ = ["AssistantMissing", "PromptStore", "VersionConflict"]


class AssistantMissing(LookupError):
    pass


class PromptStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add_version(
        self, tenant_id: str, assistant_id: str, config: dict[str, Any], note: str, based_on: int | None = None
    ) -> PromptVersion:
        """Append a version and make it the only active one, in one transaction (``store.versions``: a racing
        writer retries with the next number; an edit ``based_on`` a version no longer the latest is a VersionConflict).

        The assistant's row is locked first, so writers of one assistant take turns.
        """

        async def lock(session: AsyncSession) -> None:
            if await session.scalar(live_assistant(tenant_id, assistant_id).with_for_update()) is None:
                raise AssistantMissing(assistant_id)

        def make(number: int) -> PromptVersion:
            return PromptVersion(tenant_id=tenant_id, assistant_id=assistant_id, version=number, config=config,
                                 is_active=True, note=note)

        return await append_version(self._sessions, PromptVersion, [PromptVersion.assistant_id == assistant_id], make,
                                    based_on, lock)

    async def active(self, tenant_id: str, assistant_id: str) -> PromptVersion | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(PromptVersion).where(
                    PromptVersion.tenant_id == tenant_id,
                    PromptVersion.assistant_id == assistant_id,
                    PromptVersion.is_active.is_(True),
                )
            )

    async def version(self, tenant_id: str, assistant_id: str, version: int) -> PromptVersion | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(PromptVersion).where(
                    PromptVersion.tenant_id == tenant_id,
                    PromptVersion.assistant_id == assistant_id,
                    PromptVersion.version == version,
                )
            )

    async def history(self, tenant_id: str, assistant_id: str, limit: int) -> list[PromptVersion]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PromptVersion)
                .where(PromptVersion.tenant_id == tenant_id, PromptVersion.assistant_id == assistant_id)
                .order_by(PromptVersion.version.desc())
                .limit(limit)
            )
            return list(rows)
