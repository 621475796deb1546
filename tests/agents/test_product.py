"""The Product agent: search hits read back from the catalog, so a half-imported product is never recommended."""

from __future__ import annotations

from types import SimpleNamespace

from agents.product import ProductAgent, ProductQuery
from memory.types import ScoredProduct


class IndexWithHits:
    """Product index stand-in answering fixed hits (and recording the tenant it was asked for)."""

    def __init__(self, *ids: str) -> None:
        self.ids, self.tenants = ids, []

    async def search(self, tenant_id: str, query: str, k: int = 5) -> list[ScoredProduct]:
        self.tenants.append(tenant_id)
        return [ScoredProduct(product_id=i, name=f"indexed {i}", score=1.0 - n / 10, matched_by=["keyword"]) for n, i in enumerate(self.ids)][:k]


class CatalogRows:
    """Relational catalog stand-in: rows by product id for one tenant."""

    def __init__(self, tenant_id: str, **rows: dict) -> None:
        self.tenant_id, self.rows = tenant_id, rows

    async def get_many(self, tenant_id: str, product_ids: list[str]) -> dict:
        base = {"category": "", "description": "", "price": None, "tags": [], "indications": [], "contraindications": [], "aliases": []}
        if tenant_id != self.tenant_id:
            return {}
        return {pid: SimpleNamespace(product_id=pid, **{**base, **self.rows[pid]}) for pid in product_ids if pid in self.rows}


async def test_hits_come_back_with_the_catalogs_current_fields_best_first() -> None:
    index = IndexWithHits("a", "b")
    catalog = CatalogRows("t1", a={"name": "补水嫩肤", "price": 980.0}, b={"name": "射频紧致", "contraindications": ["孕期"]})
    result = await ProductAgent(index, catalog).retrieve(ProductQuery(tenant_id="t1", query="补水", k=2))
    assert [(p.product_id, p.name, p.price, p.score) for p in result.products] == [("a", "补水嫩肤", 980.0, 1.0), ("b", "射频紧致", None, 0.9)]
    assert result.products[1].contraindications == ["孕期"] and index.tenants == ["t1"]


async def test_a_hit_missing_from_the_catalog_is_never_recommended() -> None:
    catalog = CatalogRows("t1", a={"name": "补水嫩肤"})
    result = await ProductAgent(IndexWithHits("half-imported", "a"), catalog).retrieve(ProductQuery(tenant_id="t1", query="补水"))
    assert [p.product_id for p in result.products] == ["a"]
