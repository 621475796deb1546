"""Batch jobs over HTTP (in-process app and batch runner, no model configured, SQLite and PostgreSQL): each kind,
progress, results in input order with per-item errors, cancel, and tenant isolation."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.api.test_products import CATALOG
from tests.api.test_runs import eventually
from tests.client import ApiClient, assert_error

POSTS = ["刚做完水光针，补水效果不错", "今天去爬山了", "热玛吉做完三个月的感受", "敏感肌换季泛红怎么办"]
SOURCE = "最近做了一次水光针，整体感觉还不错。面诊的时候医生讲得很细，术后按照要求补水防晒，一周左右基本恢复。"


async def finished(client: ApiClient, batch_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        progress = await client.expect(200, "GET", f"/v1/batches/{batch_id}")
        return progress if progress["state"] in ("completed", "failed", "cancelled") else None

    return await eventually(check, timeout_s)


async def results(client: ApiClient, batch_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/batches/{batch_id}/results")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


async def submit(client: ApiClient, kind: str, items: list[Any], **body: Any) -> str:
    accepted = await client.expect(202, "POST", "/v1/batches", json={"kind": kind, "items": items, **body})
    assert accepted["total"] == len(items)
    return accepted["batch_id"]


async def test_a_comment_batch_runs_every_item_and_answers_in_input_order(tenant_a: ApiClient) -> None:
    items = [{"product_prompt": "光彩医美，主打水光针、热玛吉", "task": {"product_content": f"{POSTS[i % 4]}（第{i}篇）"}} for i in range(30)]
    batch_id = await submit(tenant_a, "social.comment", items)
    progress = await finished(tenant_a, batch_id)
    assert (progress["state"], progress["total"], progress["done"], progress["failed"]) == ("completed", 30, 30, 0)
    assert progress["items_per_s"] > 0 and progress["eta_s"] == 0
    lines = await results(tenant_a, batch_id)
    assert [line["index"] for line in lines] == list(range(30)) and all(line["ok"] for line in lines)
    assert 3 in lines[0]["result"]["actions"] and lines[1]["result"]["actions"] == []


async def test_an_item_that_fails_is_reported_in_its_line_and_the_rest_complete(tenant_a: ApiClient) -> None:
    items = [{"action_type": 1, "source_text": SOURCE}, {"action_type": 1, "source_text": "补水很重要"},
             {"action_type": 2, "source_text": SOURCE, "result_count": 2}]
    batch_id = await submit(tenant_a, "social.beautify", items)
    assert (await finished(tenant_a, batch_id))["failed"] == 1
    first, short, expanded = await results(tenant_a, batch_id)
    assert first["ok"] and expanded["ok"] and len(expanded["result"]["response"]) == 2
    assert not short["ok"] and short["error"]["code"] == "SOURCE_TOO_SHORT"


async def test_an_evaluation_reports_accuracy_per_class_metrics_the_confusion_and_the_misses(tenant_a: ApiClient) -> None:
    rows = [{"text": "我们的热玛吉是全国最好的，效果行业第一。", "categories": ["absolute_terms"]},
            {"text": "水光针一次见效，保证皮肤白嫩，无效全额退款！", "categories": ["efficacy_guarantee"]},
            {"text": "欢迎到店面诊，由医生评估后制定方案。", "categories": []},
            {"text": "这款面霜能治疗湿疹。", "categories": ["absolute_terms"]}]
    batch_id = await submit(tenant_a, "evaluate", rows, options={"agent": "compliance"})
    summary = (await finished(tenant_a, batch_id))["summary"]
    assert summary["evaluated"] == 4 and summary["accuracy"] == 0.75 and summary["missed"] == 1
    assert summary["misses"][0]["index"] == 3 and summary["per_class"]["absolute_terms"]["recall"] == 0.5
    assert summary["confusion"]["approved"]["approved"] == 1
    sentiment = await submit(tenant_a, "evaluate", [{"text": "做完皮肤亮了好多，太开心了！", "label": "positive"},
                                                    {"text": "肿了一个星期还没消，很失望", "label": "negative"}],
                             options={"agent": "sentiment"})
    assert (await finished(tenant_a, sentiment))["summary"]["accuracy"] == 1.0


async def test_a_campaign_drafts_a_message_per_thread_skips_do_not_contact_and_waits_out_quiet_hours(admin: ApiClient) -> None:
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    quiet = {"start": (now - timedelta(hours=1)).strftime("%H:%M"), "end": (now + timedelta(hours=1)).strftime("%H:%M")}
    await admin.expect(201, "POST", "/v1/tenants/sync", json={"tenant_id": "quiet", "tenant_name": "静", "features": {"quiet_hours": quiet}})
    brand = await admin.as_key("quiet", ["tenant:admin", "tenant:chat"])
    open_thread = await brand.expect(201, "POST", "/v1/threads", json={"nickname": "Lily"})
    blocked = await brand.expect(201, "POST", "/v1/threads", json={"nickname": "Amy", "metadata": {"do_not_contact": True}})
    batch_id = await submit(brand, "campaign", [open_thread["thread_id"], blocked["thread_id"], "no-such-thread"])
    assert (await finished(brand, batch_id))["failed"] == 1
    drafted, skipped, missing = await results(brand, batch_id)
    assert drafted["result"]["status"] == "drafted" and drafted["result"]["message"].startswith("Lily您好")
    assert datetime.fromisoformat(drafted["result"]["send_after"]) > now
    assert skipped["result"] == {"thread_id": blocked["thread_id"], "status": "skipped", "reason": "do_not_contact"}
    assert missing["error"]["code"] == "THREAD_NOT_FOUND"


async def test_a_cancelled_batch_stops_and_says_which_items_never_ran(tenant_a: ApiClient) -> None:
    items = [{"product_prompt": "水光针", "task": {"product_content": f"水光针分享{i}"}} for i in range(400)]
    batch_id = await submit(tenant_a, "social.comment", items)
    cancelled = await tenant_a.expect(200, "POST", f"/v1/batches/{batch_id}/cancel")
    assert cancelled["state"] == "cancelled" and cancelled["cancelled"] > 0
    lines = await results(tenant_a, batch_id)
    assert len(lines) == 400 and any(line.get("error", {}).get("code") == "ITEM_CANCELLED" for line in lines)
    assert (await tenant_a.expect(200, "GET", f"/v1/batches/{batch_id}"))["state"] == "cancelled"


async def test_bad_batches_get_a_clear_4xx(tenant_a: ApiClient) -> None:
    bad_item = assert_error(await tenant_a.post("/v1/batches", json={"kind": "social.keywords", "items": [
        {"product_prompt": "水光针", "expecting_count": 3}, {"product_prompt": "水光针", "expecting_count": 99}]}), 400, "INVALID_ITEM")
    assert bad_item["details"]["fields"][0]["loc"][:3] == ["body", "items", "1"]
    assert_error(await tenant_a.post("/v1/batches", json={"kind": "evaluate", "items": [{"text": "x", "label": "positive"}]}),
                 400, "OPTIONS_REQUIRED")
    assert_error(await tenant_a.post("/v1/batches", json={"kind": "campaign"}), 400, "ITEMS_OR_SOURCE")
    assert_error(await tenant_a.post("/v1/batches", json={"kind": "campaign", "items": [{"thread": 1}]}), 400, "INVALID_ITEM")
    assert_error(await tenant_a.post("/v1/batches", json={"kind": "campaign", "source": {"inactive_days": 30}}), 400, "EMPTY_SOURCE")
    assert_error(await tenant_a.post("/v1/batches", json={"kind": "social.dance", "items": [1]}), 422, "VALIDATION_ERROR")


async def test_batches_are_the_tenants_own(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    batch_id = await submit(tenant_a, "evaluate", [{"text": "很好", "label": "positive"}], options={"agent": "sentiment"})
    await finished(tenant_a, batch_id)
    for method, url in (("GET", ""), ("GET", "/results"), ("POST", "/cancel")):
        assert_error(await tenant_b.request(method, f"/v1/batches/{batch_id}{url}"), 404, "BATCH_NOT_FOUND")
    mine = await tenant_a.expect(200, "GET", "/v1/batches")
    theirs = await tenant_b.expect(200, "GET", "/v1/batches")
    assert [b["batch_id"] for b in mine["items"]] == [batch_id] and theirs["total"] == 0


async def test_a_reindex_embeds_the_tenants_products_and_memories_again(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    await tenant_a.expect(200, "POST", "/v1/products/import", json=CATALOG)
    thread = await tenant_a.expect(201, "POST", "/v1/threads", json={"nickname": "Lily"})
    await tenant_a.expect(200, "POST", "/v1/memory/insert", json={"thread_id": thread["thread_id"], "memories": ["对酒精过敏", "预算5000"]})
    accepted = await tenant_a.expect(202, "POST", "/v1/batches", json={"kind": "reindex"})
    assert (await finished(tenant_a, accepted["batch_id"]))["state"] == "completed"
    lines = await results(tenant_a, accepted["batch_id"])
    assert [line["result"] for line in lines] == [{"target": "products", "reindexed": len(CATALOG)},
                                                  {"target": "memories", "reindexed": 2}]
    hits = await tenant_a.expect(200, "GET", "/v1/products/search", params={"q": "水光针"})
    assert hits["results"][0]["product_id"] == CATALOG[0]["product_id"]
    assert_error(await tenant_b.post("/v1/batches", json={"kind": "reindex"}), 400, "NOTHING_TO_REINDEX")
    assert_error(await tenant_a.post("/v1/batches", json={"kind": "reindex", "items": [1]}), 400, "ITEMS_NOT_ACCEPTED")
