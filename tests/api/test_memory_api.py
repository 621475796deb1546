"""Long-term memory over HTTP: insert, hybrid search, delete; threads and tenants stay apart."""

from __future__ import annotations

from api.scopes import TENANT_CHAT
from tests.client import ApiClient, assert_error


async def _thread(client: ApiClient) -> str:
    return (await client.expect(201, "POST", "/v1/threads", json={"name": "咨询"}))["thread_id"]


async def _insert(client: ApiClient, thread_id: str, memories: list[str], **extra: object) -> list[str]:
    body = await client.expect(200, "POST", "/v1/memory/insert", json={"thread_id": thread_id, "memories": memories, **extra})
    assert body["metadata"] == {"total": len(memories), "succeed": len(memories), "failed": 0}
    assert [r["index"] for r in body["results"]] == list(range(len(memories)))
    return [r["memory_id"] for r in body["results"]]


async def _search(client: ApiClient, q: str, **params: object) -> list[dict]:
    return (await client.expect(200, "GET", "/v1/memory/search", params={"q": q, **params}))["results"]


async def test_inserted_memories_are_found_best_first_with_scores(tenant_a: ApiClient) -> None:
    thread = await _thread(tenant_a)
    ids = await _insert(tenant_a, thread, ["客户对酒精过敏，护肤品要无酒精", "预算在5000元以内", "上个月做过水光针"], tags=["profile"])
    hits = await _search(tenant_a, "过敏", thread_id=thread, k=3)
    assert hits[0]["memory_id"] == ids[0] and hits[0]["text"] == "客户对酒精过敏，护肤品要无酒精"
    assert hits[0]["tags"] == ["profile"] and hits[0]["memory_type"] == "manual" and hits[0]["thread_id"] == thread
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert (await _search(tenant_a, "预算多少", thread_id=thread, k=1))[0]["memory_id"] == ids[1]


async def test_search_without_thread_covers_the_tenant_and_with_thread_only_that_thread(tenant_a: ApiClient) -> None:
    first, second = await _thread(tenant_a), await _thread(tenant_a)
    await _insert(tenant_a, first, ["喜欢自然妆感"])
    await _insert(tenant_a, second, ["喜欢浓妆"])
    assert {h["thread_id"] for h in await _search(tenant_a, "喜欢 妆", k=10)} == {first, second}
    assert {h["thread_id"] for h in await _search(tenant_a, "喜欢 妆", thread_id=second, k=10)} == {second}


async def test_deleted_memories_are_no_longer_found(tenant_a: ApiClient) -> None:
    thread = await _thread(tenant_a)
    keep, drop = await _insert(tenant_a, thread, ["敏感肌，换季容易泛红", "想在春节前做双眼皮"])
    assert await tenant_a.expect(200, "POST", "/v1/memory/delete", json={"thread_id": thread, "memory_id": drop}) == {"memory_id": drop, "deleted": True}
    assert drop not in [h["memory_id"] for h in await _search(tenant_a, "双眼皮", thread_id=thread, k=5)]
    assert keep in [h["memory_id"] for h in await _search(tenant_a, "敏感肌", thread_id=thread, k=5)]
    again = await tenant_a.post("/v1/memory/delete", json={"thread_id": thread, "memory_id": drop})
    assert_error(again, 404, "MEMORY_NOT_FOUND")


async def test_bad_inserts_and_searches_get_4xx(tenant_a: ApiClient) -> None:
    thread = await _thread(tenant_a)
    assert_error(await tenant_a.post("/v1/memory/insert", json={"thread_id": thread, "memories": []}), 422, "VALIDATION_ERROR")
    assert_error(await tenant_a.post("/v1/memory/insert", json={"thread_id": thread, "memories": ["ok", "  "]}), 422, "VALIDATION_ERROR")
    assert_error(await tenant_a.post("/v1/memory/insert", json={"thread_id": thread, "memories": ["x"] * 101}), 422, "VALIDATION_ERROR")
    assert_error(await tenant_a.post("/v1/memory/insert", json={"thread_id": "nope", "memories": ["x"]}), 404, "THREAD_NOT_FOUND")
    assert_error(await tenant_a.get("/v1/memory/search", params={"q": "x", "thread_id": "nope"}), 404, "THREAD_NOT_FOUND")
    assert_error(await tenant_a.get("/v1/memory/search", params={"q": "   "}), 400, "EMPTY_QUERY")


async def test_memory_needs_tenant_admin(admin: ApiClient) -> None:
    chat = await admin.with_tenant("tenant-a", (TENANT_CHAT,))
    assert_error(await chat.get("/v1/memory/search", params={"q": "x"}), 403, "INSUFFICIENT_SCOPES")


async def test_tenants_never_see_each_others_memories(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    thread = await _thread(tenant_a)
    (memory_id,) = await _insert(tenant_a, thread, ["对玻尿酸过敏"])
    assert await _search(tenant_b, "玻尿酸 过敏", k=10) == []
    assert_error(await tenant_b.get("/v1/memory/search", params={"q": "过敏", "thread_id": thread}), 404, "THREAD_NOT_FOUND")
    assert_error(await tenant_b.post("/v1/memory/delete", json={"thread_id": thread, "memory_id": memory_id}), 404, "THREAD_NOT_FOUND")
    other = await _thread(tenant_b)
    assert_error(await tenant_b.post("/v1/memory/delete", json={"thread_id": other, "memory_id": memory_id}), 404, "MEMORY_NOT_FOUND")
    assert [h["memory_id"] for h in await _search(tenant_a, "过敏", thread_id=thread)] == [memory_id]
