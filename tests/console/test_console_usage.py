"""The usage page: runs, failed runs, tokens and cost per day and model with totals, a bar per day, compliance
findings by category and direction, verdicts, the period chosen from 7/30/90 days; the figures are the API's for the
signed-in tenant only, and the page fits a phone."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import Page, expect

from tests.console.conftest import Console, assert_fits, screenshot, sign_in, tenant_api


async def chat_turns(client: httpx.AsyncClient, *messages: str) -> list[dict[str, Any]]:
    assistant = await client.post("/v1/assistants", json={"assistant_name": "小美", "personality": "温柔耐心",
                                                          "occupation": "皮肤管理顾问", "industry": "医美"})
    assert assistant.status_code == 201, assistant.text
    assistant_id = assistant.json()["assistant_id"]
    prompt = await client.post(f"/v1/prompts/{assistant_id}",
                               json={"prompt_config": {"personality_prompt": "你是{assistant_name}，回答专业、简洁。"}})
    assert prompt.status_code == 201, prompt.text
    thread = await client.post("/v1/threads", json={"assistant_id": assistant_id, "nickname": "Lily"})
    assert thread.status_code == 201, thread.text
    runs = []
    for message in messages:
        run = await client.post(f"/v1/threads/{thread.json()['thread_id']}/runs/wait",
                                json={"assistant_id": assistant_id, "input": [{"role": "user", "content": message}]})
        assert run.status_code == 200, run.text
        runs.append(run.json())
    return runs


async def usage(client: httpx.AsyncClient, days: int) -> dict[str, Any]:
    answered = await client.get("/v1/usage", params={"days": days})
    assert answered.status_code == 200, answered.text
    return answered.json()


async def open_usage(page: Page) -> None:
    await page.get_by_role("link", name="用量").click()
    await expect(page.get_by_test_id("usage-window")).to_be_visible()


async def test_todays_runs_and_the_abuse_a_customer_wrote_are_shown(page: Page, console: Console):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    async with tenant_api(console) as client:
        await chat_turns(client, "你好，水光针多少钱？", "你们这些骗子，垃圾客服！")
        expected = await usage(client, 7)  # other tests may have run turns for this tenant too: the page shows what the API says
        await sign_in(page, console, console.keys["tenant-a"])
        await open_usage(page)
        await page.get_by_label("时间范围").select_option("7")
        await expect(page.get_by_test_id("usage-window")).to_contain_text("共 7 天")
        assert page.url.endswith("#/usage/7")

        runs = sum(row["runs"] for row in expected["per_day"])
        assert runs >= 2
        await expect(page.get_by_test_id("usage-total-runs")).to_have_text(f"{runs:,}")
        todays = [row for row in expected["per_day"] if row["day"] == today]
        assert sum(row["runs"] for row in todays) >= 2
        for row in todays:
            shown = page.locator(f'.usage-table tbody tr[data-day="{today}"][data-model="{row["model"]}"]')
            await expect(shown.get_by_test_id("usage-runs")).to_have_text(f"{row['runs']:,}")
            await expect(shown.locator("td").nth(3)).to_have_text(f"{row['failed']:,}")
            await expect(shown.locator("td").nth(4)).to_have_text(f"{row['input_tokens']:,}")
            await expect(shown.locator("td").nth(6)).to_have_text(f"${row['cost_usd']:.4f}")
        await expect(page.get_by_test_id("usage-totals")).to_contain_text("合计")
        await expect(page.get_by_test_id("usage-totals").locator("td").first).to_have_text(f"{runs:,}")
        bar = page.get_by_test_id("usage-bars").locator(f'li[data-day="{today}"] .usage-bar > span')
        assert await bar.evaluate("span => parseFloat(span.style.width)") > 0

        abuse = next(found for found in expected["compliance"] if found["category"] == "abuse" and found["direction"] == "input")
        assert abuse["count"] >= 2  # 骗子, 垃圾
        finding = page.locator('tr[data-category="abuse"][data-direction="input"]')
        await expect(finding).to_contain_text("辱骂")
        await expect(finding).to_contain_text("客户消息")
        await expect(finding.get_by_test_id("usage-finding-count")).to_have_text(str(abuse["count"]))
        verdicts = page.get_by_test_id("usage-verdicts")
        for verdict, count in expected["verdicts"].items():
            await expect(verdicts.locator(f'li[data-verdict="{verdict}"]')).to_contain_text(str(count))
        if not expected["truncated"]:
            await expect(page.get_by_test_id("usage-truncated")).to_have_count(0)
        await screenshot(page, "usage")

        await page.get_by_label("柱状图指标").select_option("runs")
        await expect(page.get_by_role("heading", name="每日运行次数")).to_be_visible()
        await page.get_by_label("时间范围").select_option("90")
        await expect(page.get_by_test_id("usage-window")).to_contain_text("共 90 天")
        await expect(page.get_by_role("heading", name="每日运行次数")).to_be_visible()  # the metric chosen is kept
        await page.reload()
        await expect(page.get_by_label("时间范围")).to_have_value("90")


async def test_the_usage_page_speaks_english_and_fits_a_phone(phone: Page, console: Console):
    page = phone
    async with tenant_api(console) as client:
        await chat_turns(client, "你们这些骗子，垃圾客服！")
    await sign_in(page, console, console.keys["tenant-a"])
    await page.goto(f"{console.url}/console/#/usage/30")
    await expect(page.get_by_test_id("usage-window")).to_contain_text("共 30 天")
    await page.get_by_label("时间范围").focus()
    await page.keyboard.press("Tab")  # the refresh button
    await page.keyboard.press("Enter")
    await expect(page.locator('tr[data-category="abuse"]')).to_be_visible()
    await assert_fits(page, "the usage page")
    await page.get_by_label("Language / 语言").select_option("en")
    await expect(page.get_by_role("heading", name="Compliance findings")).to_be_visible()
    await expect(page.locator('tr[data-category="abuse"]')).to_contain_text("Customer messages")
    await assert_fits(page, "the usage page in English")
    await page.get_by_label("Language / 语言").select_option("zh-CN")


async def test_a_tenant_sees_only_its_own_usage(page: Page, console: Console):
    async with tenant_api(console) as a, tenant_api(console, "tenant-b") as b:
        await chat_turns(a, "你们这些骗子，垃圾客服！")
        assert (await usage(a, 30))["runs_counted"] >= 1
        theirs = await usage(b, 30)
    await sign_in(page, console, console.keys["tenant-b"])
    await open_usage(page)
    await expect(page.get_by_test_id("tenant")).to_contain_text("tenant-b")
    await expect(page.get_by_test_id("usage-total-runs")).to_have_text(f"{sum(r['runs'] for r in theirs['per_day']):,}")
    if not theirs["per_day"]:
        await expect(page.get_by_test_id("usage-empty")).to_be_visible()
    if not theirs["compliance"]:
        await expect(page.get_by_test_id("usage-compliance-none")).to_be_visible()
        await expect(page.locator('tr[data-category="abuse"]')).to_have_count(0)


async def test_figures_over_several_days_and_models_add_up_and_a_truncated_window_is_said(page: Page, console: Console):
    """The API's answer for a busy tenant, served to the page in place of the real one (20,000 runs are not made here)."""
    busy = {"days": 30, "since": "2026-03-01T00:00:00+08:00", "runs_counted": 20000, "truncated": True,
            "per_day": [{"day": "2026-03-30", "model": "qwen-max", "runs": 12000, "failed": 3, "input_tokens": 1500000,
                         "output_tokens": 300000, "cost_usd": 4.5},
                        {"day": "2026-03-30", "model": "none", "runs": 40, "failed": 40, "input_tokens": 0, "output_tokens": 0,
                         "cost_usd": 0.0},
                        {"day": "2026-03-29", "model": "qwen-max", "runs": 7960, "failed": 0, "input_tokens": 900000,
                         "output_tokens": 200000, "cost_usd": 2.25}],
            "compliance": [{"direction": "output", "category": "absolute_terms", "count": 30},
                           {"direction": "input", "category": "abuse", "count": 15}],
            "verdicts": {"approved": 19000, "flagged": 900, "blocked": 60}}
    asked: list[str] = []

    async def serve(route: Any) -> None:
        asked.append(route.request.url)
        await route.fulfill(json=busy)

    await page.route("**/v1/usage?*", serve)
    await sign_in(page, console, console.keys["tenant-a"])
    await open_usage(page)
    assert asked and asked[-1].endswith("/v1/usage?days=30")  # 30 days unless the route names another period
    await expect(page.get_by_test_id("usage-truncated")).to_contain_text("只统计了最新的 20,000 次运行")
    await expect(page.get_by_test_id("usage-total-runs")).to_have_text("20,000")
    await expect(page.get_by_test_id("usage-total-failed")).to_have_text("43")
    await expect(page.get_by_test_id("usage-total-input")).to_have_text("2,400,000")
    await expect(page.get_by_test_id("usage-total-cost")).to_have_text("$6.7500")
    await expect(page.locator(".usage-table tbody tr")).to_have_count(3)
    await expect(page.locator('.usage-table tr[data-model="none"]')).to_contain_text("未调用模型")
    await expect(page.get_by_role("heading", name="每日费用")).to_be_visible()  # cost, since there is some
    widths = await page.get_by_test_id("usage-bars").locator(".usage-bar > span").evaluate_all(
        "spans => spans.map(span => span.style.width)")
    assert widths == ["100%", "50%"]
    await expect(page.locator('tr[data-category="absolute_terms"]')).to_contain_text("绝对化用语")
    await expect(page.locator('tr[data-category="absolute_terms"]')).to_contain_text("助手回复")
    await expect(page.get_by_test_id("usage-verdicts").locator('li[data-verdict="blocked"]')).to_contain_text("已拦截")
    async with page.expect_request("**/v1/usage?days=90"):
        await page.get_by_label("时间范围").select_option("90")
