"""Tenants: idempotent sync from the brand platform, soft delete (status CLOSED)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import Tenant


class TenantStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, tenant_id: str) -> Tenant | None:
        async with self._sessions() as session:
            return await session.get(Tenant, tenant_id)

    async def all(self) -> list[Tenant]:
        async with self._sessions() as session:
            return list(await session.scalars(select(Tenant).order_by(Tenant.tenant_id)))

    async def page(self, offset: int, limit: int) -> tuple[list[Tenant], int]:
        """Every tenant, by id (the console's tenant picker for platform keys)."""
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(Tenant))
            rows = await session.scalars(select(Tenant).order_by(Tenant.tenant_id).offset(offset).limit(limit))
            return list(rows), int(total or 0)

    async def upsert(self, tenant_id: str, fields: dict[str, Any]) -> tuple[Tenant, bool]:
        """Create or update; returns (tenant, created). Safe against a concurrent first sync."""
        for _ in range(2):
            try:
                async with self._sessions.begin() as session:
                    tenant = await session.get(Tenant, tenant_id, with_for_update=True)
                    created = tenant is None
                    if tenant is None:
                        tenant = Tenant(tenant_id=tenant_id)
                        session.add(tenant)
                    for name, value in fields.items():
                        setattr(tenant, name, value)
                return tenant, created
            except IntegrityError:
                continue  # another sync created it between our read and insert: update it instead
        raise RuntimeError(f"tenant {tenant_id} could not be upserted")

    async def update(self, tenant_id: str, fields: dict[str, Any]) -> Tenant | None:
        async with self._sessions.begin() as session:
            tenant = await session.get(Tenant, tenant_id, with_for_update=True)
            if tenant is None:
                return None
            for name, value in fields.items():
                setattr(tenant, name, value)
            return tenant
