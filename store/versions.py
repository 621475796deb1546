"""Append-only versions 1, 2, 3… within a scope, exactly one of them active: what an assistant's prompts
(``store.prompts``) and a tenant's compliance rules (``store.compliance_rules``) share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import ComplianceRuleVersion, PromptVersion

MAX_ATTEMPTS = 5
V = TypeVar("V", PromptVersion, ComplianceRuleVersion)


class VersionConflict(Exception):
    """The edit was based on a version that is no longer the latest."""

    def __init__(self, latest: int) -> None:
        super().__init__(f"latest version is {latest}")
        self.latest = latest


async def append_version(
    sessions: async_sessionmaker[AsyncSession],
    model: type[V],
    scope: Sequence[ColumnElement[bool]],
    make: Callable[[int], V],
    based_on: int | None = None,
    lock: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> V:
    """Append ``make(latest + 1)`` to the rows of ``model`` that ``scope`` selects and make it the only active one,
    in one transaction (``lock`` runs first in it: it may lock a parent row, or raise when there is none).

    Two writers racing for the same number collide on the model's unique (scope, version) constraint; the loser
    retries with the next number, or, when its edit was ``based_on`` a version that is no longer the latest (0: there
    was none), fails with VersionConflict instead of overwriting.
    """
    for attempt in range(MAX_ATTEMPTS):
        try:
            async with sessions.begin() as session:
                if lock is not None:
                    await lock(session)
                latest = (await session.scalar(select(func.max(model.version)).where(*scope))) or 0
                if based_on is not None and latest != based_on:
                    raise VersionConflict(latest)
                await session.execute(update(model).where(*scope, model.is_active.is_(True)).values(is_active=False))
                row = make(latest + 1)
                session.add(row)
            return row
        except IntegrityError:
            if attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
