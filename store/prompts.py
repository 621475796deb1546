"""Versioned prompt configs per assistant: append-only versions 1, 2, 3…, exactly one active."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.assistants import live_assistant
from store.models import PromptVersion

_MAX_ATTEMPTS = 5


class AssistantMissing(LookupError):
    pass


class VersionConflict(Exception):
    """The edit was based on a version that is no longer the latest."""

    def __init__(self, latest: int) -> None:
        super().__init__(f"latest version is {latest}")
        self.latest = latest


class PromptStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add_version(
        self, tenant_id: str, assistant_id: str, config: dict[str, Any], note: str, based_on: int | None = None
    ) -> PromptVersion:
        """Append a version and make it the only active one, in one transaction.

        Two writers racing for the same number collide on the unique
        (assistant_id, version) constraint; the loser retries with the next
        number, or, when its edit was ``based_on`` a version that is no longer
        the latest, fails with VersionConflict instead of overwriting.
        """
        for attempt in range(_MAX_ATTEMPTS):
            try:
                async with self._sessions.begin() as session:
                    if await session.scalar(live_assistant(tenant_id, assistant_id).with_for_update()) is None:
                        raise AssistantMissing(assistant_id)
                    latest = await session.scalar(
                        select(func.max(PromptVersion.version)).where(PromptVersion.assistant_id == assistant_id)
                    )
                    if based_on is not None and latest != based_on:
                        raise VersionConflict(latest or 0)
                    await session.execute(
                        update(PromptVersion)
                        .where(PromptVersion.assistant_id == assistant_id, PromptVersion.is_active.is_(True))
                        .values(is_active=False)
                    )
                    version = PromptVersion(
                        tenant_id=tenant_id,
                        assistant_id=assistant_id,
                        version=(latest or 0) + 1,
                        config=config,
                        is_active=True,
                        note=note,
                    )
                    session.add(version)
                return version
            except IntegrityError:
                if attempt == _MAX_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

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
