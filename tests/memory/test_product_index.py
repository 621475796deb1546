"""ProductIndex on the embedded backends (and a Milvus server) with the fixture catalog (tests/memory/data/catalog.json):
hybrid ranking over names, aliases, tags, indications and descriptions; idempotent upserts; isolation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memory.service import ProductIndex
from memory.types import ProductDoc

CATALOG = [ProductDoc.model_validate(item) for item in json.loads((Path(__file__).parent / "data" / "catalog.json").read_text())]


@pytest.fixture
async def catalog(products: ProductIndex, tenant: str) -> str:
    await products.upsert(tenant, CATALOG)
    return tenant


async def ids(products: ProductIndex, tenant: str, query: str, k: int = 3) -> list[str]:
    return [hit.product_id for hit in await products.search(tenant, query, k)]


def test_the_fixture_catalog_is_a_realistic_mix() -> None:
    assert len(CATALOG) == 20 and len({p.product_id for p in CATALOG}) == 20
    assert {p.category for p in CATALOG} >= {"医美项目", "护肤品", "彩妆"}
    assert all(p.aliases and p.tags and p.description for p in CATALOG)


async def test_a_product_found_by_its_alias_ranks_first(products: ProductIndex, catalog: str) -> None:
    hits = await products.search(catalog, "水光针", 3)
    assert hits[0].product_id == "hydra-glow-course" and hits[0].name == "补水嫩肤疗程"
    assert hits[0].matched_by == ["vector", "keyword"] and hits[0].score == pytest.approx(1.0)
    assert "cushion-foundation" in [hit.product_id for hit in hits]  # 水光气垫粉底 also says 水光, ranked after
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert (await ids(products, catalog, "Thermage"))[0] == "thermage-flx"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("热玛吉", "thermage-flx"),  # name
        ("我想瘦脸", "botox-slim"),  # name, in a sentence
        ("刷酸", "fruit-acid-peel"),  # alias
        ("脸上有雀斑", "picosecond-spot"),  # indication
        ("红血丝", "ipl-photo"),  # tag and indication
        ("无香精 修护面霜", "repair-cream"),  # description and name
        ("口红", "matte-lipstick"),
    ],
)
async def test_queries_find_the_product_by_any_of_its_fields(
    products: ProductIndex, catalog: str, query: str, expected: str
) -> None:
    assert (await ids(products, catalog, query))[0] == expected


async def test_contraindications_do_not_make_a_product_match(products: ProductIndex, catalog: str) -> None:
    assert await ids(products, catalog, "孕期") == [] and await ids(products, catalog, "   ") == []


async def test_upsert_is_idempotent_by_product_id(products: ProductIndex, catalog: str) -> None:
    renamed = CATALOG[0].model_copy(update={"name": "深层补水疗程", "aliases": ["小灯泡"]})
    await products.upsert(catalog, [renamed, renamed])
    await products.upsert(catalog, [renamed])
    hits = [hit for hit in await products.search(catalog, "补水疗程 小灯泡", 20) if hit.product_id == "hydra-glow-course"]
    assert [(hit.name, hit.matched_by) for hit in hits] == [("深层补水疗程", ["vector", "keyword"])]
    assert "hydra-glow-course" not in await ids(products, catalog, "水光针", 20)  # the old aliases are gone


async def test_deleted_products_are_no_longer_found(products: ProductIndex, catalog: str) -> None:
    await products.delete(catalog, ["thermage-flx", "not-there"])
    assert "thermage-flx" not in await ids(products, catalog, "热玛吉第五代 射频 紧致", 20)
    assert "ultherapy" in await ids(products, catalog, "超声刀", 20)


async def test_tenants_never_see_each_others_products_even_with_the_same_ids(products: ProductIndex, tenant: str) -> None:
    other = tenant + "-b"
    await products.upsert(tenant, [ProductDoc(product_id="p1", name="玻尿酸保湿精华", tags=["保湿"])])
    await products.upsert(other, [ProductDoc(product_id="p1", name="防晒喷雾", tags=["防晒"])])
    assert [(hit.product_id, hit.name) for hit in await products.search(other, "玻尿酸 保湿 精华", 5)] == []
    assert [(hit.product_id, hit.name) for hit in await products.search(other, "防晒", 5)] == [("p1", "防晒喷雾")]
    await products.delete(other, ["p1"])
    assert [(hit.product_id, hit.name) for hit in await products.search(tenant, "玻尿酸保湿精华", 5)] == [
        ("p1", "玻尿酸保湿精华")
    ]


async def test_check_reports_each_backend(products: ProductIndex) -> None:
    assert products._vectors.name in {"milvus_lite", "milvus"}  # Milvus Lite, or a server in the milvus_server case
    assert await products.check() == {f"keywords:{products._keywords.name}": "ok", f"vectors:{products._vectors.name}": "ok"}
