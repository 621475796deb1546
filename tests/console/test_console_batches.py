"""The batches page: a tenant's batches with their progress refreshed while they run, results downloaded as NDJSON
(fetched with the token, saved from a Blob URL), cancel for queued and running batches, an evaluation submitted
from pasted rows with the keyboard on a phone-sized screen, and nothing of another tenant's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, expect

from tests.console.conftest import Console, assert_fits, screenshot, sign_in, tenant_api

ROWS = [{"text": "我们的热玛吉是全国最好的，效果行业第一。", "channel": "ad", "categories": ["absolute_terms"]},
        {"text": "水光针一次见效，保证皮肤白嫩，无效全额退款！", "channel": "ad", "categories": ["efficacy_guarantee"]},
        {"text": "欢迎到店面诊，由医生评估后制定方案。", "channel": "chat", "categories": []},
        {"text": "这款面霜能治疗湿疹。", "channel": "ad", "categories": ["absolute_terms"]}]
# ~85 rows a second in the in-process app: a batch this big runs for tens of seconds, long enough to cancel it.
BIG = [{"text": f"我们的热玛吉是全国最好的，第{i}期活动。", "channel": "ad", "categories": ["absolute_terms"]} for i in range(3000)]


async def submit(client: httpx.AsyncClient, rows: list[dict[str, Any]], agent: str = "compliance") -> str:
    accepted = await client.post("/v1/batches", json={"kind": "evaluate", "items": rows, "options": {"agent": agent}})
    assert accepted.status_code == 202, accepted.text
    return accepted.json()["batch_id"]


async def cancel_unfinished(client: httpx.AsyncClient, batch_ids: list[str]) -> None:
    """Leaves no batch of the tenant running for the tests after (a tenant runs one batch at a time)."""
    for batch_id in batch_ids:
        progress = (await client.get(f"/v1/batches/{batch_id}")).json()
        if progress["state"] in ("queued", "running"):
            await client.post(f"/v1/batches/{batch_id}/cancel")


async def open_batches(page: Page) -> None:
    await page.get_by_role("link", name="批量任务").click()
    await expect(page.get_by_role("heading", name="批量任务列表")).to_be_visible()


async def test_an_evaluation_runs_to_completed_and_its_results_download_as_ndjson(page: Page, console: Console):
    async with tenant_api(console) as client:
        batch_id = await submit(client, ROWS)
        await sign_in(page, console, console.keys["tenant-a"])
        await open_batches(page)
        row = page.locator(f'tr[data-batch-id="{batch_id}"]')
        await expect(row).to_contain_text("智能体评测")
        await expect(row.get_by_test_id("batch-state")).to_have_text("已完成", timeout=60_000)
        await expect(row.get_by_test_id("batch-progress")).to_have_text("4 / 4")
        await expect(row).to_contain_text("准确率 75.0%，未命中 1 条")
        assert await row.get_by_role("progressbar").get_attribute("aria-valuenow") == "4"
        await expect(row.get_by_role("button", name="取消任务")).to_have_count(0)  # nothing to cancel once finished

        await row.get_by_role("button", name="下载结果").click()
        link = row.get_by_role("link", name=f"{batch_id}.ndjson")
        await expect(link).to_be_focused()
        assert (await link.get_attribute("href") or "").startswith("blob:")
        async with page.expect_download() as info:
            await link.click()
        download = await info.value
        assert download.suggested_filename == f"{batch_id}.ndjson"
        lines = [json.loads(line) for line in Path(await download.path()).read_text("utf-8").splitlines()]
        assert [line["index"] for line in lines] == [0, 1, 2, 3] and all(line["ok"] for line in lines)
        assert [line["result"]["correct"] for line in lines] == [True, True, True, False]
        assert lines[3]["result"]["expected"] == ["absolute_terms"]
        served = (await client.get(f"/v1/batches/{batch_id}/results")).text
        assert lines == [json.loads(line) for line in served.splitlines()]


async def test_running_batches_refresh_and_queued_and_running_ones_are_cancelled_from_the_page(page: Page, console: Console):
    async with tenant_api(console) as client:
        running = await submit(client, BIG)
        queued = await submit(client, [{"text": "做完皮肤亮了好多，太开心了！", "label": "positive"}], agent="sentiment")
        try:
            await sign_in(page, console, console.keys["tenant-a"])
            await open_batches(page)
            big, small = page.locator(f'tr[data-batch-id="{running}"]'), page.locator(f'tr[data-batch-id="{queued}"]')
            await expect(big.get_by_test_id("batch-state")).to_have_text("运行中")
            await expect(small.get_by_test_id("batch-state")).to_have_text("排队中")  # a tenant runs one batch at a time
            bar = big.get_by_role("progressbar")
            await expect(bar).not_to_have_attribute("aria-valuenow", "0")
            seen = await bar.get_attribute("aria-valuenow")
            await expect(bar).not_to_have_attribute("aria-valuenow", seen or "")  # refreshed every 2 s without a reload
            assert 0 < int(await bar.get_attribute("aria-valuenow") or 0) < len(BIG)
            assert await bar.locator("span").evaluate("span => parseFloat(span.style.width)") > 0
            await expect(big.locator("td").nth(3)).to_contain_text("条/秒")

            cancel = small.get_by_role("button", name="取消任务")
            await cancel.click()
            await expect(small.get_by_role("button", name="确认取消？")).to_be_visible()  # asks once more
            await small.get_by_role("button", name="确认取消？").click()
            await expect(small.get_by_test_id("batch-state")).to_have_text("已取消")
            await expect(small.get_by_role("button", name="取消任务")).to_have_count(0)
            await expect(big.get_by_test_id("batch-state")).to_have_text("运行中")

            await big.get_by_role("button", name="取消任务").click()
            await big.get_by_role("button", name="确认取消？").click()
            await expect(big.get_by_test_id("batch-state")).to_have_text("已取消")
            await expect(big.get_by_role("status")).to_contain_text("任务已取消")
            await expect(big.get_by_test_id("batch-progress")).to_contain_text("取消")
            await expect(big.get_by_role("button", name="下载结果")).to_be_focused()  # focus stays in the row
            progress = (await client.get(f"/v1/batches/{running}")).json()
            assert progress["state"] == "cancelled" and progress["cancelled"] > 0
            assert (await client.get(f"/v1/batches/{queued}")).json()["state"] == "cancelled"
            await screenshot(page, "batches")
        finally:
            await cancel_unfinished(client, [running, queued])


async def test_the_timer_stops_when_the_page_is_left(page: Page, console: Console):
    async with tenant_api(console) as client:
        running = await submit(client, BIG)
        try:
            await sign_in(page, console, console.keys["tenant-a"])
            await open_batches(page)
            await expect(page.locator(f'tr[data-batch-id="{running}"]').get_by_test_id("batch-state")).to_have_text("运行中")
            await page.get_by_role("link", name="合规检查").click()
            await page.wait_for_timeout(500)  # a refresh already in flight ends
            polls: list[str] = []
            page.on("request", lambda request: polls.append(request.url) if "/v1/batches" in request.url else None)
            await page.wait_for_timeout(4500)
            assert polls == [], f"the batches page kept polling after it was left: {polls}"
        finally:
            await cancel_unfinished(client, [running])


async def test_an_evaluation_is_submitted_from_pasted_rows_with_the_keyboard_on_a_phone(phone: Page, console: Console):
    page = phone
    await sign_in(page, console, console.keys["tenant-a"])
    await page.goto(f"{console.url}/console/#/batches")
    await expect(page.get_by_role("heading", name="批量任务列表")).to_be_visible()
    await page.locator("summary", has_text="提交评测任务").focus()
    await page.keyboard.press("Enter")  # opens the form
    await page.keyboard.press("Tab")  # the agent
    await page.keyboard.press("Tab")  # the rows
    await page.keyboard.type('{"text": "这款面霜能治疗湿疹。", "channel": "ad", "categories": ["medical_claims_cosmetics"]}\n'
                             "not json\n")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("alert")).to_contain_text("第 2 行不是 JSON 对象")
    await page.get_by_label("标注数据（NDJSON，每行一条）").fill(json.dumps(ROWS[0], ensure_ascii=False) + "\n\n"
                                                             + json.dumps(ROWS[2], ensure_ascii=False))
    await page.get_by_label("标注数据（NDJSON，每行一条）").focus()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    submitted = page.get_by_role("status").filter(has_text="已提交任务")
    await expect(submitted).to_contain_text("共 2 条")
    batch_id = (await submitted.inner_text()).split("已提交任务 ")[1].split("，")[0]
    row = page.locator(f'tr[data-batch-id="{batch_id}"]')
    await expect(row.get_by_test_id("batch-state")).to_have_text("已完成", timeout=60_000)
    await expect(row).to_contain_text("准确率 100.0%")
    await assert_fits(page, "the batches page")


async def test_a_tenant_sees_none_of_another_tenants_batches(page: Page, console: Console):
    async with tenant_api(console) as a, tenant_api(console, "tenant-b") as b:
        mine = await submit(a, ROWS[:1])
        theirs = (await b.get("/v1/batches", params={"page_size": 100})).json()
        await sign_in(page, console, console.keys["tenant-b"])
        await open_batches(page)
        await expect(page.locator(f'tr[data-batch-id="{mine}"]')).to_have_count(0)
        if theirs["total"] == 0:
            await expect(page.get_by_test_id("batches-empty")).to_be_visible()
        else:
            await expect(page.locator("tr[data-batch-id]")).to_have_count(min(theirs["total"], 20))
        assert (await b.get(f"/v1/batches/{mine}")).status_code == 404
