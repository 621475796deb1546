"""Tenant administration (``backend:admin``): sync, status, partial update, soft delete, visibility."""

from __future__ import annotations

from typing import Any

import pytest

from api.scopes import BACKEND_ADMIN, TENANT_ADMIN, TENANT_CHAT
from tests.client import ApiClient, assert_error

TENANT_FIELDS = {
    "tenant_id", "tenant_name", "status", "industry", "creator", "features", "is_active", "created_at", "updated_at",
}
ASSISTANT = {"assistant_name": "小美", "personality": "亲切专业", "occupation": "美容顾问", "industry": "医美"}


async def sync(client: ApiClient, tenant_id: str = "acme", **fields: Any) -> Any:
    return await client.post("/v1/tenants/sync", json={"tenant_id": tenant_id, "tenant_name": "艾克美医美", **fields})


async def status_of(client: ApiClient, tenant_id: str = "acme") -> dict[str, Any]:
    return await client.expect(200, "GET", f"/v1/tenants/{tenant_id}/status")


async def test_sync_creates_with_201_and_returns_the_tenant(admin: ApiClient) -> None:
    response = await sync(admin, industry="医美", creator="ops", features={"memory": True})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == TENANT_FIELDS
    assert body["tenant_id"] == "acme" and body["tenant_name"] == "艾克美医美"
    assert body["status"] == "ACTIVE" and body["is_active"] is True
    assert (body["industry"], body["creator"], body["features"]) == ("医美", "ops", {"memory": True})
    assert await status_of(admin) == body


async def test_sync_again_updates_with_200_and_is_idempotent(admin: ApiClient) -> None:
    created = (await sync(admin)).json()
    again = await sync(admin)
    assert again.status_code == 200
    assert again.json()["tenant_name"] == created["tenant_name"]
    assert again.json()["created_at"] == created["created_at"]

    renamed = await sync(admin, tenant_name="新名字", industry="美妆")
    assert renamed.status_code == 200
    status = await status_of(admin)
    assert (status["tenant_name"], status["industry"]) == ("新名字", "美妆")
    assert status["created_at"] == created["created_at"]


async def test_sync_defaults_to_active_and_features_to_empty(admin: ApiClient) -> None:
    body = (await sync(admin)).json()
    assert body["status"] == "ACTIVE" and body["features"] == {}
    assert body["industry"] is None and body["creator"] is None


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"tenant_id": "bad id!"}, "tenant_id"),
        ({"tenant_id": ""}, "tenant_id"),
        ({"tenant_name": ""}, "tenant_name"),
        ({"status": "DELETED"}, "status"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_sync_rejects_invalid_bodies_with_422(admin: ApiClient, fields: dict[str, Any], bad_field: str) -> None:
    body = {"tenant_id": "acme", "tenant_name": "艾克美", **fields}
    error = assert_error(await admin.post("/v1/tenants/sync", json=body), 422, "VALIDATION_ERROR")
    assert any(bad_field in f["loc"] for f in error["details"]["fields"]), error


async def test_sync_requires_tenant_name(admin: ApiClient) -> None:
    error = assert_error(await admin.post("/v1/tenants/sync", json={"tenant_id": "acme"}), 422, "VALIDATION_ERROR")
    assert any("tenant_name" in f["loc"] for f in error["details"]["fields"])


async def test_update_changes_only_the_fields_sent(admin: ApiClient) -> None:
    created = (await sync(admin, industry="医美", creator="ops", features={"memory": True})).json()
    response = await admin.put("/v1/tenants/acme", json={"tenant_name": "改名"})
    assert response.status_code == 200, response.text
    status = await status_of(admin)
    assert status == response.json()
    assert status["tenant_name"] == "改名"
    assert {k: status[k] for k in ("status", "industry", "creator", "features", "created_at")} == {
        k: created[k] for k in ("status", "industry", "creator", "features", "created_at")
    }


async def test_update_may_clear_optional_fields_and_change_status(admin: ApiClient) -> None:
    await sync(admin, industry="医美")
    response = await admin.put("/v1/tenants/acme", json={"industry": None, "status": "BANNED", "features": {"x": 1}})
    assert response.status_code == 200, response.text
    status = await status_of(admin)
    assert status["industry"] is None and status["features"] == {"x": 1}
    assert status["status"] == "BANNED" and status["is_active"] is False


async def test_update_with_empty_body_is_400_empty_update(admin: ApiClient) -> None:
    await sync(admin)
    assert_error(await admin.put("/v1/tenants/acme", json={}), 400, "EMPTY_UPDATE")


@pytest.mark.parametrize(
    "body",
    [{"tenant_name": None}, {"status": None}, {"features": None}, {"status": "GONE"}, {"nickname": "x"}],
    ids=["null-name", "null-status", "null-features", "bad-status", "unknown-field"],
)
async def test_update_rejects_invalid_bodies_with_422(admin: ApiClient, body: dict[str, Any]) -> None:
    before = (await sync(admin)).json()
    assert_error(await admin.put("/v1/tenants/acme", json=body), 422, "VALIDATION_ERROR")
    assert await status_of(admin) == before


async def test_delete_closes_the_tenant_and_keeps_its_data(admin: ApiClient) -> None:
    client = await admin.with_tenant("acme")
    created = await client.post("/v1/assistants", json=ASSISTANT)
    assert created.status_code == 201, created.text
    assistant_id = created.json()["assistant_id"]

    response = await admin.delete("/v1/tenants/acme")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "CLOSED" and response.json()["is_active"] is False
    assert (await status_of(admin))["status"] == "CLOSED"
    assert await admin.services.assistants.get("acme", assistant_id) is not None
    for method, url in [("GET", "/v1/assistants"), ("GET", f"/v1/assistants/{assistant_id}"), ("POST", "/v1/threads")]:
        assert_error(await client.request(method, url, json={} if method == "POST" else None), 403, "TENANT_DISABLED")


async def test_banned_tenant_is_refused_until_reactivated(admin: ApiClient) -> None:
    client = await admin.with_tenant("acme")
    banned = await sync(admin, status="BANNED")
    assert banned.status_code == 200 and banned.json()["is_active"] is False
    assert_error(await client.get("/v1/assistants"), 403, "TENANT_DISABLED")
    assert_error(await client.post("/v1/threads", json={}), 403, "TENANT_DISABLED")

    await sync(admin, status="ACTIVE")
    assert (await client.get("/v1/assistants")).status_code == 200


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/v1/tenants/ghost/status", None),
        ("PUT", "/v1/tenants/ghost", {"tenant_name": "鬼"}),
        ("DELETE", "/v1/tenants/ghost", None),
    ],
)
async def test_unknown_tenant_is_404_tenant_not_found(admin: ApiClient, method: str, url: str, body: Any) -> None:
    assert_error(await admin.request(method, url, json=body), 404, "TENANT_NOT_FOUND")


async def test_tenant_bound_admin_key_sees_only_its_own_tenant(
    admin: ApiClient, tenant_a: ApiClient, tenant_b: ApiClient
) -> None:
    own_admin = await admin.as_key("tenant-a", [BACKEND_ADMIN])
    assert (await status_of(own_admin, "tenant-a"))["tenant_id"] == "tenant-a"
    assert (await sync(own_admin, "tenant-a")).status_code == 200

    assert_error(await own_admin.get("/v1/tenants/tenant-b/status"), 404, "TENANT_NOT_FOUND")
    assert_error(await own_admin.put("/v1/tenants/tenant-b", json={"tenant_name": "x"}), 404, "TENANT_NOT_FOUND")
    assert_error(await own_admin.delete("/v1/tenants/tenant-b"), 404, "TENANT_NOT_FOUND")
    assert_error(await sync(own_admin, "tenant-b"), 403, "TENANT_MISMATCH")
    assert_error(await sync(own_admin, "brand-new"), 403, "TENANT_MISMATCH")

    other = await status_of(admin, "tenant-b")
    assert other["status"] == "ACTIVE" and other["tenant_name"] == "tenant-b 医美"
    assert_error(await admin.get("/v1/tenants/brand-new/status"), 404, "TENANT_NOT_FOUND")


async def test_token_without_backend_admin_is_403_insufficient_scopes(tenant_a: ApiClient) -> None:
    for method, url in [("GET", "/v1/tenants/tenant-a/status"), ("DELETE", "/v1/tenants/tenant-a")]:
        error = assert_error(await tenant_a.request(method, url), 403, "INSUFFICIENT_SCOPES")
        assert error["details"]["required_scopes"] == [BACKEND_ADMIN]
        assert error["details"]["current_scopes"] == sorted([TENANT_ADMIN, TENANT_CHAT])
    assert_error(await sync(tenant_a, "tenant-a"), 403, "INSUFFICIENT_SCOPES")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", "/v1/tenants/sync"),
        ("GET", "/v1/tenants/acme/status"),
        ("PUT", "/v1/tenants/acme"),
        ("DELETE", "/v1/tenants/acme"),
    ],
)
async def test_no_token_is_401_unauthenticated(api: ApiClient, method: str, url: str) -> None:
    body = {"tenant_id": "acme", "tenant_name": "x"} if method in ("POST", "PUT") else None
    assert_error(await api.request(method, url, json=body), 401, "UNAUTHENTICATED")


async def test_resync_without_status_keeps_a_banned_tenant_banned(admin: ApiClient) -> None:
    await admin.post("/v1/tenants/sync", json={"tenant_id": "t-ban", "tenant_name": "n", "status": "BANNED"})
    again = await admin.post("/v1/tenants/sync", json={"tenant_id": "t-ban", "tenant_name": "renamed"})
    assert again.status_code == 200
    assert again.json()["status"] == "BANNED" and again.json()["tenant_name"] == "renamed"
