"""The product catalog of one tenant: the source of truth the product search index is built from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import Product, utcnow

_UPSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class ProductStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def upsert(self, tenant_id: str, products: list[dict[str, Any]]) -> tuple[int, int]:
        """Insert or update by ``product_id`` in one transaction; returns (inserted, updated).

        ``INSERT … ON CONFLICT DO UPDATE`` keeps concurrent imports of the same
        product from failing on the primary key.
        """
        products = list({p["product_id"]: p for p in products}.values())  # the last of duplicate ids wins
        if not products:
            return 0, 0
        ids = [p["product_id"] for p in products]
        async with self._sessions.begin() as session:
            existing = set(await session.scalars(select(Product.product_id).where(Product.tenant_id == tenant_id, Product.product_id.in_(ids))))
            insert = _UPSERT[session.bind.dialect.name]
            now = utcnow()
            rows = [{**p, "tenant_id": tenant_id, "created_at": now, "updated_at": now} for p in products]
            statement = insert(Product).values(rows)
            columns = {name: statement.excluded[name] for name in products[0] if name != "product_id"}
            await session.execute(
                statement.on_conflict_do_update(index_elements=[Product.tenant_id, Product.product_id], set_={**columns, "updated_at": now})
            )
        updated = len(existing.intersection(ids))
        return len(ids) - updated, updated

    async def get(self, tenant_id: str, product_id: str) -> Product | None:
        async with self._sessions() as session:
            return await session.get(Product, (tenant_id, product_id))

    async def get_many(self, tenant_id: str, product_ids: list[str]) -> dict[str, Product]:
        async with self._sessions() as session:
            rows = await session.scalars(select(Product).where(Product.tenant_id == tenant_id, Product.product_id.in_(product_ids)))
            return {row.product_id: row for row in rows}

    async def delete(self, tenant_id: str, product_id: str) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(delete(Product).where(Product.tenant_id == tenant_id, Product.product_id == product_id))
            return result.rowcount > 0

    async def services(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every product's id, name and aliases: what the intent agent matches a customer's words against."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(Product.product_id, Product.name, Product.aliases).where(Product.tenant_id == tenant_id)
            )
            return [{"product_id": pid, "name": name, "aliases": aliases or []} for pid, name, aliases in rows]

    async def vocabulary(self, tenant_id: str, limit: int = 2000) -> list[dict[str, Any]]:
        """The words of up to ``limit`` products: name, aliases, category, tags and indications (the brand's terms)."""
        columns = (Product.name, Product.aliases, Product.category, Product.tags, Product.indications)
        async with self._sessions() as session:
            rows = await session.execute(select(*columns).where(Product.tenant_id == tenant_id).order_by(Product.product_id).limit(limit))
            return [{"name": name, "aliases": aliases or [], "category": category or "", "tags": tags or [],
                     "indications": indications or []} for name, aliases, category, tags, indications in rows]

    async def ids(self, tenant_id: str) -> list[str]:
        async with self._sessions() as session:
            return list(await session.scalars(select(Product.product_id).where(Product.tenant_id == tenant_id)
                                              .order_by(Product.product_id)))
