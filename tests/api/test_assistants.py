"""Assistants (``tenant:admin``): CRUD, paging, partial updates, tenant isolation and tenant resolution."""

from __future__ import annotations

from typing import Any

import pytest

from api.scopes import TENANT_ADMIN, TENANT_CHAT
from tests.client import ApiClient, assert_error

REQUIRED = {"assistant_name": "小美", "personality": "亲切、专业，擅长皮肤管理建议", "occupation": "美容顾问", "industry": "医美"}
OPTIONAL = {
    "nickname": "美美",
    "sex": "FEMALE",
    "address": "上海市静安区",
    "voice_id": "voice-01",
    "voice_file": "https://cdn.example.com/v.wav",
    "model": "gpt-4o-mini",
    "profile": {"years": 5, "skills": ["光子嫩肤"]},
    "status": "INACTIVE",
}


async def create(client: ApiClient, **fields: Any) -> dict[str, Any]:
    return await client.expect(201, "POST", "/v1/assistants", json={**REQUIRED, **fields})


async def fetch(client: ApiClient, assistant_id: str) -> dict[str, Any]:
    return await client.expect(200, "GET", f"/v1/assistants/{assistant_id}")


async def listed_ids(client: ApiClient, query: str = "") -> list[str]:
    return [item["assistant_id"] for item in (await client.expect(200, "GET", f"/v1/assistants{query}"))["items"]]


async def test_create_returns_201_with_an_id_and_every_field(tenant_a: ApiClient) -> None:
    body = await create(tenant_a, **OPTIONAL)
    assert body["assistant_id"] and body["tenant_id"] == "tenant-a"
    assert {k: body[k] for k in {**REQUIRED, **OPTIONAL}} == {**REQUIRED, **OPTIONAL}
    assert await fetch(tenant_a, body["assistant_id"]) == body


async def test_create_defaults_status_active_and_empty_profile(tenant_a: ApiClient) -> None:
    body = await create(tenant_a)
    assert body["status"] == "ACTIVE" and body["profile"] == {}
    assert body["nickname"] is None and body["sex"] is None


@pytest.mark.parametrize("field", sorted(REQUIRED))
async def test_create_without_a_required_field_is_422_naming_it(tenant_a: ApiClient, field: str) -> None:
    body = {k: v for k, v in REQUIRED.items() if k != field}
    error = assert_error(await tenant_a.post("/v1/assistants", json=body), 422, "VALIDATION_ERROR")
    assert any(field in f["loc"] for f in error["details"]["fields"]), error


@pytest.mark.parametrize("fields", [{"sex": "M"}, {"status": "DELETED"}, {"assistant_name": "  "}, {"colour": "red"}])
async def test_create_rejects_invalid_values_with_422(tenant_a: ApiClient, fields: dict[str, Any]) -> None:
    assert_error(await tenant_a.post("/v1/assistants", json={**REQUIRED, **fields}), 422, "VALIDATION_ERROR")
    assert await listed_ids(tenant_a) == []


async def test_body_tenant_id_must_be_the_callers(tenant_a: ApiClient) -> None:
    assert_error(await tenant_a.post("/v1/assistants", json={**REQUIRED, "tenant_id": "tenant-b"}), 403, "TENANT_MISMATCH")
    assert await listed_ids(tenant_a) == []
    same = await create(tenant_a, tenant_id="tenant-a")
    assert same["tenant_id"] == "tenant-a"


async def test_list_is_paged_newest_first(tenant_a: ApiClient) -> None:
    ids = [(await create(tenant_a, assistant_name=f"顾问{i}"))["assistant_id"] for i in range(3)]
    first = (await tenant_a.get("/v1/assistants?page=1&page_size=2")).json()
    assert {k: first[k] for k in ("total", "page", "page_size")} == {"total": 3, "page": 1, "page_size": 2}
    second = (await tenant_a.get("/v1/assistants?page=2&page_size=2")).json()
    assert second["total"] == 3 and second["page"] == 2
    assert [item["assistant_id"] for item in first["items"] + second["items"]] == ids[::-1]
    assert await listed_ids(tenant_a, "?page=3&page_size=2") == []


async def test_list_defaults_to_page_1_of_20(tenant_a: ApiClient) -> None:
    body = (await tenant_a.get("/v1/assistants")).json()
    assert body == {"items": [], "total": 0, "page": 1, "page_size": 20}


@pytest.mark.parametrize("query", ["?page_size=101", "?page_size=0", "?page=0", "?status=DELETED"])
async def test_list_rejects_bad_query_with_422(tenant_a: ApiClient, query: str) -> None:
    assert_error(await tenant_a.get(f"/v1/assistants{query}"), 422, "VALIDATION_ERROR")


async def test_list_filters_by_status(tenant_a: ApiClient) -> None:
    active = (await create(tenant_a))["assistant_id"]
    inactive = (await create(tenant_a, status="INACTIVE"))["assistant_id"]
    assert await listed_ids(tenant_a, "?status=ACTIVE") == [active]
    assert await listed_ids(tenant_a, "?status=INACTIVE") == [inactive]
    assert (await tenant_a.get("/v1/assistants?status=INACTIVE")).json()["total"] == 1


async def test_update_changes_only_the_fields_sent(tenant_a: ApiClient) -> None:
    created = await create(tenant_a, **OPTIONAL)
    response = await tenant_a.put(f"/v1/assistants/{created['assistant_id']}", json={"nickname": "新昵称", "sex": None})
    assert response.status_code == 200, response.text
    stored = await fetch(tenant_a, created["assistant_id"])
    assert stored == response.json()
    assert stored["nickname"] == "新昵称" and stored["sex"] is None
    unchanged = {k: v for k, v in created.items() if k not in ("nickname", "sex", "updated_at")}
    assert {k: stored[k] for k in unchanged} == unchanged
    assert stored["updated_at"] >= created["updated_at"]


async def test_update_with_empty_body_is_400_empty_update(tenant_a: ApiClient) -> None:
    assistant_id = (await create(tenant_a))["assistant_id"]
    assert_error(await tenant_a.put(f"/v1/assistants/{assistant_id}", json={}), 400, "EMPTY_UPDATE")


@pytest.mark.parametrize(
    "body",
    [*({name: None} for name in [*sorted(REQUIRED), "profile", "status"]), {"status": "DELETED"}, {"colour": "red"}],
    ids=lambda body: "-".join(f"{k}={v}" for k, v in body.items()),
)
async def test_update_rejects_invalid_bodies_with_422(tenant_a: ApiClient, body: dict[str, Any]) -> None:
    created = await create(tenant_a)
    assert_error(await tenant_a.put(f"/v1/assistants/{created['assistant_id']}", json=body), 422, "VALIDATION_ERROR")
    assert await fetch(tenant_a, created["assistant_id"]) == created


async def test_update_naming_another_tenant_is_403(tenant_a: ApiClient) -> None:
    created = await create(tenant_a)
    url = f"/v1/assistants/{created['assistant_id']}"
    assert_error(await tenant_a.put(url, json={"tenant_id": "tenant-b", "nickname": "x"}), 403, "TENANT_MISMATCH")
    assert await fetch(tenant_a, created["assistant_id"]) == created


async def test_delete_is_204_and_the_assistant_disappears(tenant_a: ApiClient) -> None:
    kept = (await create(tenant_a))["assistant_id"]
    gone = (await create(tenant_a))["assistant_id"]
    response = await tenant_a.delete(f"/v1/assistants/{gone}")
    assert response.status_code == 204 and response.content == b""

    assert_error(await tenant_a.get(f"/v1/assistants/{gone}"), 404, "ASSISTANT_NOT_FOUND")
    assert_error(await tenant_a.put(f"/v1/assistants/{gone}", json={"nickname": "x"}), 404, "ASSISTANT_NOT_FOUND")
    assert_error(await tenant_a.delete(f"/v1/assistants/{gone}"), 404, "ASSISTANT_NOT_FOUND")
    assert await listed_ids(tenant_a) == [kept]
    assert (await tenant_a.get("/v1/assistants")).json()["total"] == 1


async def test_unknown_assistant_is_404(tenant_a: ApiClient) -> None:
    for method in ("GET", "PUT", "DELETE"):
        body = {"nickname": "x"} if method == "PUT" else None
        assert_error(await tenant_a.request(method, "/v1/assistants/no-such-id", json=body), 404, "ASSISTANT_NOT_FOUND")


async def test_another_tenants_assistant_looks_nonexistent(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    created = await create(tenant_a)
    url = f"/v1/assistants/{created['assistant_id']}"
    assert_error(await tenant_b.get(url), 404, "ASSISTANT_NOT_FOUND")
    assert_error(await tenant_b.put(url, json={"nickname": "偷改"}), 404, "ASSISTANT_NOT_FOUND")
    assert_error(await tenant_b.delete(url), 404, "ASSISTANT_NOT_FOUND")
    assert await listed_ids(tenant_b) == []
    assert await fetch(tenant_a, created["assistant_id"]) == created
    assert await listed_ids(tenant_a) == [created["assistant_id"]]


async def test_platform_token_acts_for_the_tenant_named_in_x_tenant_id(admin: ApiClient, tenant_a: ApiClient) -> None:
    response = await admin.post("/v1/assistants", json=REQUIRED, headers={"X-Tenant-ID": "tenant-a"})
    assert response.status_code == 201, response.text
    assert response.json()["tenant_id"] == "tenant-a"
    assert await listed_ids(tenant_a) == [response.json()["assistant_id"]]
    listed = await admin.get("/v1/assistants", headers={"X-Tenant-ID": "tenant-a"})
    assert [item["assistant_id"] for item in listed.json()["items"]] == [response.json()["assistant_id"]]


async def test_platform_token_without_x_tenant_id_is_400_tenant_required(admin: ApiClient) -> None:
    assert_error(await admin.post("/v1/assistants", json=REQUIRED), 400, "TENANT_REQUIRED")
    assert_error(await admin.get("/v1/assistants"), 400, "TENANT_REQUIRED")


async def test_platform_token_naming_an_unknown_tenant_is_403_tenant_not_found(admin: ApiClient) -> None:
    assert_error(await admin.get("/v1/assistants", headers={"X-Tenant-ID": "ghost"}), 403, "TENANT_NOT_FOUND")


async def test_x_tenant_id_contradicting_a_tenant_bound_token_is_403(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    assert_error(await tenant_a.get("/v1/assistants", headers={"X-Tenant-ID": "tenant-b"}), 403, "TENANT_MISMATCH")
    assert_error(
        await tenant_a.post("/v1/assistants", json=REQUIRED, headers={"X-Tenant-ID": "tenant-b"}), 403, "TENANT_MISMATCH"
    )
    assert await listed_ids(tenant_b) == []
    assert (await tenant_a.get("/v1/assistants", headers={"X-Tenant-ID": "tenant-a"})).status_code == 200


async def test_chat_only_token_is_403_insufficient_scopes(admin: ApiClient, tenant_a: ApiClient) -> None:
    chat = await admin.as_key("tenant-a", [TENANT_CHAT])
    error = assert_error(await chat.post("/v1/assistants", json=REQUIRED), 403, "INSUFFICIENT_SCOPES")
    assert error["details"] == {"required_scopes": [TENANT_ADMIN], "current_scopes": [TENANT_CHAT]}
    assert_error(await chat.get("/v1/assistants"), 403, "INSUFFICIENT_SCOPES")


async def test_no_token_is_401_unauthenticated(api: ApiClient) -> None:
    assert_error(await api.get("/v1/assistants"), 401, "UNAUTHENTICATED")
    assert_error(await api.post("/v1/assistants", json=REQUIRED), 401, "UNAUTHENTICATED")
