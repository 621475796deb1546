"""The Product agent: products for this turn from the tenant's catalog, by hybrid search over the product index.

The relational catalog is the source of truth: every hit is read back from it,
so a product whose import or delete was cut half-way is never recommended.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, Field

from memory.types import ProductDoc, ScoredProduct


class ProductQuery(BaseModel):
    tenant_id: str
    query: str = Field(min_length=1, max_length=5000)
    k: int = Field(default=3, ge=1, le=20)


class ProductPick(ProductDoc):
    """A catalog product, as the catalog has it now, with its search score."""

    score: float


class ProductResult(BaseModel):
    products: list[ProductPick]


class ProductSearch(Protocol):
    async def search(self, tenant_id: str, query: str, k: int = 5) -> list[ScoredProduct]: ...


class ProductCatalog(Protocol):
    async def get_many(self, tenant_id: str, product_ids: list[str]) -> Mapping[str, Any]:
        """Rows with the ``ProductPick`` fields as attributes, by product id; missing ids are absent."""
        ...


class ProductAgent:
    def __init__(self, index: ProductSearch, catalog: ProductCatalog) -> None:
        self._index = index
        self._catalog = catalog

    async def retrieve(self, request: ProductQuery) -> ProductResult:
        hits = await self._index.search(request.tenant_id, request.query, request.k)
        rows = await self._catalog.get_many(request.tenant_id, [hit.product_id for hit in hits]) if hits else {}
        return ProductResult(
            products=[_pick(rows[hit.product_id], hit.score) for hit in hits if hit.product_id in rows]
        )


def _pick(row: Any, score: float) -> ProductPick:
    return ProductPick(score=score, **{name: getattr(row, name) for name in ProductDoc.model_fields})
