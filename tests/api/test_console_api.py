"""The read endpoints the console lists with (SQLite and PostgreSQL): tenants for a platform key, a tenant's threads
with their hand-off state, a thread's runs with every agent's decision, and usage per day, model and compliance
category. Each sees only the caller's tenant."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from api.scopes import TENANT_CHAT
from tests.api.test_runs import new_chat
from tests.client import ApiClient, assert_error


async def test_a_platform_key_lists_every_tenant_and_a_tenant_key_only_its_own(admin: ApiClient, tenant_a: ApiClient,
                                                                              tenant_b: ApiClient) -> None:
    listed = await admin.expect(200, "GET", "/v1/tenants", params={"page_size": 100})
    assert {"tenant-a", "tenant-b"} <= {t["tenant_id"] for t in listed["items"]} and listed["total"] >= 2
    own = await admin.as_key("tenant-a", ["backend:admin"])
    assert [t["tenant_id"] for t in (await own.expect(200, "GET", "/v1/tenants"))["items"]] == ["tenant-a"]
    assert_error(await tenant_a.get("/v1/tenants"), 403, "INSUFFICIENT_SCOPES")


async def test_threads_are_listed_newest_first_with_their_hand_off_state_and_per_tenant(
        tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    first = await tenant_a.expect(201, "POST", "/v1/threads", json={"nickname": "Amy"})
    second = await tenant_a.expect(201, "POST", "/v1/threads", json={"nickname": "Bea"})
    await tenant_b.expect(201, "POST", "/v1/threads", json={"nickname": "Cai"})
    await tenant_a.expect(200, "POST", f"/v1/threads/{first['thread_id']}/handoff", json={"reason": "客户要求人工"})

    listed = await tenant_a.expect(200, "GET", "/v1/threads")
    assert [t["thread_id"] for t in listed["items"]] == [first["thread_id"], second["thread_id"]] and listed["total"] == 2
    assert listed["items"][0]["status"] == "HANDOFF" and listed["items"][0]["handoff_reason"] == "客户要求人工"
    with_person = await tenant_a.expect(200, "GET", "/v1/threads", params={"handoff": "true"})
    assert [t["nickname"] for t in with_person["items"]] == ["Amy"]
    with_ai = await tenant_a.expect(200, "GET", "/v1/threads", params={"handoff": "false"})
    assert [t["nickname"] for t in with_ai["items"]] == ["Bea"]
    assert [t["nickname"] for t in (await tenant_b.expect(200, "GET", "/v1/threads"))["items"]] == ["Cai"]
    assert_error(await tenant_a.get("/v1/threads", params={"page_size": 101}), 422, "VALIDATION_ERROR")


async def test_a_threads_runs_carry_each_agents_decision_and_stay_with_their_tenant(tenant_a: ApiClient,
                                                                                    tenant_b: ApiClient) -> None:
    chat = await new_chat(tenant_a)
    await chat.wait("你好，水光针多少钱？")
    await chat.wait("你们这些骗子，垃圾客服！")
    runs = (await tenant_a.expect(200, "GET", chat.url("runs")))["runs"]
    assert len(runs) == 2 and runs[0]["input"][0]["content"] == "你们这些骗子，垃圾客服！"
    latest = runs[0]["result"]
    assert latest["agents"]["compliance"]["input"]["output"]["verdict"] == "flagged"
    assert {"sentiment", "intent", "memory", "products"} <= set(latest["agents"])
    assert all(run["status"] == "completed" and run["cost_usd"] >= 0 for run in runs)
    assert_error(await tenant_b.get(chat.url("runs")), 404, "THREAD_NOT_FOUND")


async def test_usage_counts_runs_tokens_and_compliance_findings_per_day_for_the_caller_only(
        tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    chat = await new_chat(tenant_a)
    await chat.wait("你好，水光针多少钱？")
    await chat.wait("你们这些骗子，垃圾客服！")
    used = await tenant_a.expect(200, "GET", "/v1/usage", params={"days": 7})
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert {row["day"] for row in used["per_day"]} == {today} and sum(row["runs"] for row in used["per_day"]) == 2
    assert used["runs_counted"] == 2 and not used["truncated"]
    assert used["compliance"] == [{"direction": "input", "category": "abuse", "count": 2}]  # 骗子, 垃圾
    assert sum(used["verdicts"].values()) == 2
    theirs = await tenant_b.expect(200, "GET", "/v1/usage")
    assert theirs["per_day"] == [] and theirs["compliance"] == [] and theirs["runs_counted"] == 0
    chat_only = await tenant_a.as_key("tenant-a", [TENANT_CHAT])
    assert_error(await chat_only.get("/v1/usage"), 403, "INSUFFICIENT_SCOPES")
    assert_error(await tenant_a.get("/v1/usage", params={"days": 91}), 422, "VALIDATION_ERROR")
