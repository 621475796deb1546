"""Configuration generations: a counter per reloadable component, bumped by a reload on any replica."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import ConfigGeneration, utcnow


class GenerationStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, name: str) -> int:
        async with self._sessions() as session:
            return (await session.scalar(select(ConfigGeneration.generation).where(ConfigGeneration.name == name))) or 0

    async def bump(self, name: str) -> int:
        """The new generation of ``name`` (atomic: two reloads at once give two generations)."""
        for _ in range(3):
            async with self._sessions() as session, session.begin():
                bumped = await session.execute(
                    update(ConfigGeneration).where(ConfigGeneration.name == name)
                    .values(generation=ConfigGeneration.generation + 1, updated_at=utcnow())
                    .returning(ConfigGeneration.generation)
                )
                generation = bumped.scalar_one_or_none()
                if generation is not None:
                    return generation
            try:
                async with self._sessions() as session, session.begin():
                    session.add(ConfigGeneration(name=name, generation=1, updated_at=utcnow()))
                return 1
            except IntegrityError:  # another replica created it first: bump that row
                continue
        raise RuntimeError(f"could not bump the generation of {name!r}")
