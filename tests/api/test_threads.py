"""Customer threads (``tenant:chat``): create, read, partial info update, durable message history."""

from __future__ import annotations

from typing import Any

import pytest

from api.scopes import TENANT_ADMIN, TENANT_CHAT
from tests.client import ApiClient, assert_error
from tests.store.seed import seed_messages

ASSISTANT = {"assistant_name": "小美", "personality": "亲切专业", "occupation": "美容顾问", "industry": "医美"}
PROFILE = {
    "name": "微信咨询-王女士",
    "nickname": "小王",
    "real_name": "王丽",
    "sex": "FEMALE",
    "age": 32,
    "phone": "13800138000",
    "occupation": "教师",
    "services": ["光子嫩肤", "水光针"],
    "is_converted": True,
    "metadata": {"channel": "wechat", "tags": ["敏感肌"]},
}


async def new_assistant(client: ApiClient) -> str:
    return (await client.expect(201, "POST", "/v1/assistants", json=ASSISTANT))["assistant_id"]


async def new_thread(client: ApiClient, **fields: Any) -> dict[str, Any]:
    return await client.expect(201, "POST", "/v1/threads", json=fields)


async def fetch(client: ApiClient, thread_id: str) -> dict[str, Any]:
    return await client.expect(200, "GET", f"/v1/threads/{thread_id}")


async def add_messages(client: ApiClient, thread: dict[str, Any], count: int) -> list[str]:
    """Append ``count`` alternating user/assistant messages; returns their ids, oldest first."""
    rows = await seed_messages(
        client.services,
        thread["tenant_id"],
        thread["thread_id"],
        [{"role": ("user", "assistant")[i % 2], "content": f"第{i}条：你好"} for i in range(count)],
    )
    return [row.message_id for row in rows]


async def test_create_minimal_thread_is_idle_with_empty_defaults(tenant_a: ApiClient) -> None:
    body = await new_thread(tenant_a)
    assert body["thread_id"] and body["tenant_id"] == "tenant-a" and body["status"] == "IDLE"
    assert body["assistant_id"] is None and body["sex"] is None and body["age"] is None
    assert body["services"] == [] and body["metadata"] == {} and body["is_converted"] is False
    assert await fetch(tenant_a, body["thread_id"]) == body


async def test_create_round_trips_every_optional_field(tenant_a: ApiClient) -> None:
    assistant_id = await new_assistant(tenant_a)
    body = await new_thread(tenant_a, assistant_id=assistant_id, **PROFILE)
    assert body["status"] == "IDLE" and body["assistant_id"] == assistant_id
    assert {k: body[k] for k in PROFILE} == PROFILE
    assert await fetch(tenant_a, body["thread_id"]) == body


@pytest.mark.parametrize("sex", ["MALE", "FEMALE", "OTHER"])
async def test_create_accepts_each_sex(tenant_a: ApiClient, sex: str) -> None:
    assert (await new_thread(tenant_a, sex=sex))["sex"] == sex


@pytest.mark.parametrize("age", [0, 150])
async def test_create_accepts_age_bounds(tenant_a: ApiClient, age: int) -> None:
    assert (await new_thread(tenant_a, age=age))["age"] == age


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"sex": "M"}, "sex"),
        ({"age": -1}, "age"),
        ({"age": 151}, "age"),
        ({"phone": "call-me"}, "phone"),
        ({"services": "光子嫩肤"}, "services"),
        ({"metadata": ["not", "a", "dict"]}, "metadata"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_create_rejects_invalid_fields_with_422(tenant_a: ApiClient, fields: dict[str, Any], bad_field: str) -> None:
    error = assert_error(await tenant_a.post("/v1/threads", json=fields), 422, "VALIDATION_ERROR")
    assert any(bad_field in f["loc"] for f in error["details"]["fields"]), error


async def test_create_with_another_tenants_or_unknown_assistant_is_404(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    for assistant_id in (await new_assistant(tenant_b), "no-such-assistant"):
        response = await tenant_a.post("/v1/threads", json={"assistant_id": assistant_id})
        assert_error(response, 404, "ASSISTANT_NOT_FOUND")


async def test_create_with_a_deleted_assistant_is_404(tenant_a: ApiClient) -> None:
    assistant_id = await new_assistant(tenant_a)
    assert (await tenant_a.delete(f"/v1/assistants/{assistant_id}")).status_code == 204
    assert_error(await tenant_a.post("/v1/threads", json={"assistant_id": assistant_id}), 404, "ASSISTANT_NOT_FOUND")


async def test_unknown_thread_is_404_thread_not_found(tenant_a: ApiClient) -> None:
    assert_error(await tenant_a.get("/v1/threads/no-such-thread"), 404, "THREAD_NOT_FOUND")
    assert_error(await tenant_a.post("/v1/threads/no-such-thread/info", json={"age": 30}), 404, "THREAD_NOT_FOUND")
    assert_error(await tenant_a.get("/v1/threads/no-such-thread/messages"), 404, "THREAD_NOT_FOUND")


async def test_info_update_changes_only_the_fields_sent_and_replaces_metadata(tenant_a: ApiClient) -> None:
    created = await new_thread(tenant_a, **PROFILE)
    change = {"age": 33, "services": ["热玛吉"], "metadata": {"stage": "已到店"}}
    response = await tenant_a.post(f"/v1/threads/{created['thread_id']}/info", json=change)
    assert response.status_code == 200, response.text
    stored = await fetch(tenant_a, created["thread_id"])
    assert stored == response.json()
    assert {k: stored[k] for k in change} == change
    unchanged = {k: v for k, v in created.items() if k not in {*change, "updated_at"}}
    assert {k: stored[k] for k in unchanged} == unchanged


async def test_info_update_may_clear_a_nullable_field_and_attach_an_assistant(tenant_a: ApiClient) -> None:
    created = await new_thread(tenant_a, **PROFILE)
    assistant_id = await new_assistant(tenant_a)
    url = f"/v1/threads/{created['thread_id']}/info"
    assert (await tenant_a.post(url, json={"phone": None, "assistant_id": assistant_id})).status_code == 200
    stored = await fetch(tenant_a, created["thread_id"])
    assert stored["phone"] is None and stored["assistant_id"] == assistant_id
    assert stored["real_name"] == PROFILE["real_name"]


async def test_info_update_with_empty_body_is_400_empty_update(tenant_a: ApiClient) -> None:
    thread_id = (await new_thread(tenant_a))["thread_id"]
    assert_error(await tenant_a.post(f"/v1/threads/{thread_id}/info", json={}), 400, "EMPTY_UPDATE")


@pytest.mark.parametrize(
    "body",
    [{"services": None}, {"is_converted": None}, {"metadata": None}, {"sex": "F"}, {"age": 200}, {"colour": "red"}],
    ids=lambda body: "-".join(f"{k}={v}" for k, v in body.items()),
)
async def test_info_update_rejects_invalid_bodies_with_422(tenant_a: ApiClient, body: dict[str, Any]) -> None:
    created = await new_thread(tenant_a, **PROFILE)
    assert_error(await tenant_a.post(f"/v1/threads/{created['thread_id']}/info", json=body), 422, "VALIDATION_ERROR")
    assert await fetch(tenant_a, created["thread_id"]) == created


async def test_info_update_with_another_tenants_assistant_is_404(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    created = await new_thread(tenant_a)
    body = {"assistant_id": await new_assistant(tenant_b)}
    assert_error(await tenant_a.post(f"/v1/threads/{created['thread_id']}/info", json=body), 404, "ASSISTANT_NOT_FOUND")
    assert await fetch(tenant_a, created["thread_id"]) == created


async def test_messages_of_a_new_thread_are_empty(tenant_a: ApiClient) -> None:
    thread_id = (await new_thread(tenant_a))["thread_id"]
    response = await tenant_a.get(f"/v1/threads/{thread_id}/messages")
    assert response.status_code == 200
    assert response.json() == {"messages": [], "has_more": False, "next_before": None}


async def test_messages_come_newest_first_with_their_fields(tenant_a: ApiClient) -> None:
    thread = await new_thread(tenant_a)
    ids = await add_messages(tenant_a, thread, 3)
    body = (await tenant_a.get(f"/v1/threads/{thread['thread_id']}/messages")).json()
    assert [m["message_id"] for m in body["messages"]] == ids[::-1]
    assert body["has_more"] is False and body["next_before"] is None
    newest = body["messages"][0]
    assert newest["thread_id"] == thread["thread_id"] and newest["run_id"] is None
    assert (newest["role"], newest["content"]) == ("user", "第2条：你好")
    assert newest["created_at"]


async def test_paging_through_messages_yields_each_once_newest_first(tenant_a: ApiClient) -> None:
    thread = await new_thread(tenant_a)
    ids = await add_messages(tenant_a, thread, 5)
    seen: list[str] = []
    pages: list[bool] = []
    query = "?limit=2"
    while True:
        response = await tenant_a.get(f"/v1/threads/{thread['thread_id']}/messages{query}")
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [m["message_id"] for m in page["messages"]]
        pages.append(page["has_more"])
        if not page["has_more"]:
            assert page["next_before"] is None
            break
        assert page["next_before"] == page["messages"][-1]["message_id"]
        query = f"?limit=2&before={page['next_before']}"
    assert seen == ids[::-1]
    assert pages == [True, True, False]


async def test_messages_keep_structured_content(tenant_a: ApiClient) -> None:
    thread = await new_thread(tenant_a)
    parts = [{"type": "text", "content": "看看这张照片"}, {"type": "input_image", "content": "https://img.example.com/a.jpg"}]
    await seed_messages(tenant_a.services, "tenant-a", thread["thread_id"], [{"role": "user", "content": parts}])
    body = (await tenant_a.get(f"/v1/threads/{thread['thread_id']}/messages")).json()
    assert body["messages"][0]["content"] == parts


async def test_before_naming_another_threads_message_is_400_invalid_cursor(tenant_a: ApiClient) -> None:
    thread, other = await new_thread(tenant_a), await new_thread(tenant_a)
    await add_messages(tenant_a, thread, 2)
    foreign = (await add_messages(tenant_a, other, 1))[0]
    for cursor in (foreign, "no-such-message"):
        response = await tenant_a.get(f"/v1/threads/{thread['thread_id']}/messages?before={cursor}")
        assert_error(response, 400, "INVALID_CURSOR")


@pytest.mark.parametrize("limit", [0, 201, -1])
async def test_messages_limit_out_of_range_is_422(tenant_a: ApiClient, limit: int) -> None:
    thread_id = (await new_thread(tenant_a))["thread_id"]
    assert_error(await tenant_a.get(f"/v1/threads/{thread_id}/messages?limit={limit}"), 422, "VALIDATION_ERROR")


async def test_another_tenants_thread_looks_nonexistent(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    created = await new_thread(tenant_a, **PROFILE)
    await add_messages(tenant_a, created, 2)
    url = f"/v1/threads/{created['thread_id']}"
    assert_error(await tenant_b.get(url), 404, "THREAD_NOT_FOUND")
    assert_error(await tenant_b.post(f"{url}/info", json={"nickname": "偷改"}), 404, "THREAD_NOT_FOUND")
    assert_error(await tenant_b.get(f"{url}/messages"), 404, "THREAD_NOT_FOUND")
    assert await fetch(tenant_a, created["thread_id"]) == created
    assert len((await tenant_a.get(f"{url}/messages")).json()["messages"]) == 2


async def test_platform_token_acts_for_the_tenant_named_in_x_tenant_id(admin: ApiClient, tenant_a: ApiClient) -> None:
    response = await admin.post("/v1/threads", json={"nickname": "小王"}, headers={"X-Tenant-ID": "tenant-a"})
    assert response.status_code == 201, response.text
    assert response.json()["tenant_id"] == "tenant-a"
    assert (await fetch(tenant_a, response.json()["thread_id"]))["nickname"] == "小王"
    assert_error(await admin.post("/v1/threads", json={}), 400, "TENANT_REQUIRED")


async def test_admin_only_token_is_403_insufficient_scopes(admin: ApiClient, tenant_a: ApiClient) -> None:
    thread_id = (await new_thread(tenant_a))["thread_id"]
    admin_only = await admin.as_key("tenant-a", [TENANT_ADMIN])
    for method, url in [
        ("POST", "/v1/threads"),
        ("GET", f"/v1/threads/{thread_id}"),
        ("POST", f"/v1/threads/{thread_id}/info"),
        ("GET", f"/v1/threads/{thread_id}/messages"),
    ]:
        response = await admin_only.request(method, url, json={"age": 30} if method == "POST" else None)
        error = assert_error(response, 403, "INSUFFICIENT_SCOPES")
        assert error["details"]["required_scopes"] == [TENANT_CHAT]


async def test_no_token_is_401_unauthenticated(api: ApiClient) -> None:
    assert_error(await api.post("/v1/threads", json={}), 401, "UNAUTHENTICATED")
    assert_error(await api.get("/v1/threads/any"), 401, "UNAUTHENTICATED")
