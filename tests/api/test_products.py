"""Product catalog over HTTP: import (JSON and NDJSON), hybrid search, lookup, delete, tenant isolation."""

from __future__ import annotations

import json

from api.scopes import TENANT_CHAT
from tests.client import ApiClient, assert_error

CATALOG = [
    {
        "product_id": "hydra-01",
        "name": "补水嫩肤疗程",
        "category": "皮肤管理",
        "description": "深层补水，改善干燥暗沉，提亮肤色",
        "price": 980,
        "tags": ["补水", "提亮"],
        "indications": ["皮肤干燥", "暗沉"],
        "contraindications": ["孕期"],
        "aliases": ["水光针"],
    },
    {
        "product_id": "hair-02",
        "name": "冰点脱毛",
        "category": "激光",
        "description": "半导体激光脱毛，腋下、四肢、唇周",
        "price": 299,
        "tags": ["脱毛"],
        "indications": ["毛发浓密"],
        "aliases": ["激光脱毛"],
    },
    {
        "product_id": "lift-03",
        "name": "射频紧致提升",
        "category": "抗衰",
        "description": "射频加热真皮层，改善松弛和细纹",
        "price": 6800,
        "tags": ["抗衰", "紧致"],
        "indications": ["皮肤松弛", "法令纹"],
        "aliases": ["热玛吉"],
    },
]


async def _import(client: ApiClient, products: list[dict]) -> dict:
    return await client.expect(200, "POST", "/v1/products/import", json=products)


async def _search(client: ApiClient, q: str, k: int = 5) -> list[dict]:
    return (await client.expect(200, "GET", "/v1/products/search", params={"q": q, "k": k}))["results"]


async def test_import_then_reimport_counts_inserts_and_updates(tenant_a: ApiClient) -> None:
    assert await _import(tenant_a, CATALOG) == {"imported": 3, "updated": 0, "failed": []}
    changed = {**CATALOG[1], "price": 199}
    assert await _import(tenant_a, [changed, {**CATALOG[0]}]) == {"imported": 0, "updated": 2, "failed": []}
    product = await tenant_a.expect(200, "GET", "/v1/products/hair-02")
    assert product["price"] == 199 and product["aliases"] == ["激光脱毛"]


async def test_invalid_items_are_reported_by_index_and_the_rest_imported(tenant_a: ApiClient) -> None:
    body = [CATALOG[0], {"product_id": "x", "category": "皮肤管理", "description": ""}, {**CATALOG[1], "price": -5}]
    result = await _import(tenant_a, body)
    assert result["imported"] == 1
    assert [f["index"] for f in result["failed"]] == [1, 2]
    assert "name" in result["failed"][0]["error"] and "price" in result["failed"][1]["error"]
    assert_error(await tenant_a.get("/v1/products/x"), 404, "PRODUCT_NOT_FOUND")


async def test_ndjson_import_reports_a_broken_line(tenant_a: ApiClient) -> None:
    lines = [json.dumps(CATALOG[0], ensure_ascii=False), "{not json", json.dumps(CATALOG[2], ensure_ascii=False), ""]
    response = await tenant_a.post("/v1/products/import", content="\n".join(lines).encode(), headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["imported"] == 2 and [f["index"] for f in result["failed"]] == [1]


async def test_bodies_that_are_not_a_catalog_get_4xx(tenant_a: ApiClient) -> None:
    assert_error(await tenant_a.post("/v1/products/import", json=[]), 400, "EMPTY_IMPORT")
    assert_error(await tenant_a.post("/v1/products/import", json=CATALOG[0]), 400, "INVALID_BODY")
    assert_error(await tenant_a.post("/v1/products/import", content=b"[{", headers={"Content-Type": "application/json"}), 400, "INVALID_BODY")
    assert_error(await tenant_a.post("/v1/products/import", content=b"x", headers={"Content-Type": "text/plain"}), 415, "UNSUPPORTED_MEDIA_TYPE")
    assert_error(await tenant_a.post("/v1/products/import", json=[CATALOG[0]] * 1001), 400, "IMPORT_TOO_LARGE")


async def test_search_finds_by_alias_indication_and_name(tenant_a: ApiClient) -> None:
    await _import(tenant_a, CATALOG)
    assert (await _search(tenant_a, "水光针"))[0]["product_id"] == "hydra-01"
    assert (await _search(tenant_a, "脸有点松弛，法令纹明显"))[0]["product_id"] == "lift-03"
    hits = await _search(tenant_a, "想做脱毛", k=1)
    assert [h["product_id"] for h in hits] == ["hair-02"]
    assert hits[0]["name"] == "冰点脱毛" and hits[0]["price"] == 299 and hits[0]["score"] > 0


async def test_deleted_products_are_gone_from_lookup_and_search(tenant_a: ApiClient) -> None:
    await _import(tenant_a, CATALOG)
    assert (await tenant_a.delete("/v1/products/hydra-01")).status_code == 204
    assert_error(await tenant_a.get("/v1/products/hydra-01"), 404, "PRODUCT_NOT_FOUND")
    assert "hydra-01" not in [h["product_id"] for h in await _search(tenant_a, "水光针 补水")]
    assert_error(await tenant_a.delete("/v1/products/hydra-01"), 404, "PRODUCT_NOT_FOUND")


async def test_chat_scope_searches_but_cannot_write(admin: ApiClient, tenant_a: ApiClient) -> None:
    await _import(tenant_a, CATALOG)
    chat = await admin.with_tenant("tenant-a", (TENANT_CHAT,))
    assert (await _search(chat, "水光针"))[0]["product_id"] == "hydra-01"
    assert_error(await chat.post("/v1/products/import", json=CATALOG), 403, "INSUFFICIENT_SCOPES")
    assert_error(await chat.delete("/v1/products/hydra-01"), 403, "INSUFFICIENT_SCOPES")


async def test_tenants_never_see_each_others_products(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    await _import(tenant_a, CATALOG)
    await _import(tenant_b, [{**CATALOG[0], "name": "B家补水套餐", "aliases": []}])
    for query in ("热玛吉 射频 紧致", "冰点脱毛", "水光针 补水"):
        assert all((h["product_id"], h["name"]) == ("hydra-01", "B家补水套餐") for h in await _search(tenant_b, query))
    assert_error(await tenant_b.get("/v1/products/lift-03"), 404, "PRODUCT_NOT_FOUND")
    assert_error(await tenant_b.delete("/v1/products/lift-03"), 404, "PRODUCT_NOT_FOUND")
    assert (await tenant_b.expect(200, "GET", "/v1/products/hydra-01"))["name"] == "B家补水套餐"
    assert (await tenant_a.expect(200, "GET", "/v1/products/hydra-01"))["name"] == "补水嫩肤疗程"
    assert (await _search(tenant_a, "热玛吉"))[0]["product_id"] == "lift-03"
