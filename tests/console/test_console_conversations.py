"""The conversations page: the tenant's threads (filtered by who has them), a thread's transcript with each run's
per-agent details, the hand-off to a person (suggested replies, a human answer, release to the AI), and what another
tenant's key sees of a thread (the API's 404, nothing of it). Data is made through the HTTP API with the offline LLM."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import httpx
from playwright.async_api import Page, expect

from tests.console.conftest import Console, assert_fits, screenshot, sign_in, tenant_api

RUN_TIMEOUT_S = 120  # the first run of a session opens the vector stores


@dataclass
class Chat:
    thread_id: str
    assistant_id: str
    nickname: str
    token: str


async def new_chat(console: Console, *turns: str, key: str = "tenant-a") -> Chat:
    """An assistant with a prompt, a thread with a profile, and a `runs/wait` turn per text."""
    nickname = f"小雨-{uuid.uuid4().hex[:6]}"
    async with tenant_api(console, key) as client:
        assistant = await client.post("/v1/assistants", json={
            "assistant_name": "小美", "personality": "亲切、专业", "occupation": "美容顾问", "industry": "医美"})
        assert assistant.status_code == 201, assistant.text
        assistant_id = assistant.json()["assistant_id"]
        prompt = await client.post(f"/v1/prompts/{assistant_id}",
                                   json={"prompt_config": {"personality_prompt": "你是{assistant_name}，回答专业、简洁。"}})
        assert prompt.status_code == 201, prompt.text
        thread = await client.post("/v1/threads", json={
            "assistant_id": assistant_id, "nickname": nickname, "name": "王小雨", "age": 28, "sex": "FEMALE",
            "occupation": "设计师", "services": ["热玛吉", "水光针"]})
        assert thread.status_code == 201, thread.text
        thread_id = thread.json()["thread_id"]
        for text in turns:
            await say(client, thread_id, assistant_id, text)
        return Chat(thread_id, assistant_id, nickname, client.headers["Authorization"])


async def say(client: httpx.AsyncClient, thread_id: str, assistant_id: str, text: str) -> dict:
    response = await client.post(f"/v1/threads/{thread_id}/runs/wait",
                                 json={"assistant_id": assistant_id, "input": [{"role": "user", "content": text}]})
    assert response.status_code == 200, response.text
    return response.json()


async def open_thread(page: Page, console: Console, chat: Chat) -> None:
    await page.goto(f"{console.url}/console/#/conversations")
    row = page.locator(f'[data-thread-id="{chat.thread_id}"]')
    await expect(row).to_contain_text(chat.nickname)
    await row.get_by_role("link").click()
    await expect(page).to_have_url(f"{console.url}/console/#/conversations/{chat.thread_id}")
    await expect(page.get_by_role("heading", level=2, name=chat.nickname, exact=False)).to_be_visible()


async def test_a_thread_shows_its_transcript_and_each_runs_agents(page: Page, console: Console):
    chat = await new_chat(console, "你好，想了解一下热玛吉的价格", "你们这些骗子，垃圾客服！")
    await sign_in(page, console, console.keys["tenant-a"])
    await page.get_by_role("link", name="会话").click()
    row = page.locator(f'[data-thread-id="{chat.thread_id}"]')
    await expect(row).to_contain_text(chat.nickname)
    await expect(row.get_by_test_id("thread-status")).to_have_text("AI 接待")
    await open_thread(page, console, chat)

    profile = page.get_by_test_id("profile")
    await expect(profile.locator('[data-field="name"]')).to_have_text("王小雨")
    await expect(profile.locator('[data-field="sex"]')).to_have_text("女")
    await expect(profile.locator('[data-field="services"]')).to_have_text("热玛吉、水光针")

    messages = page.get_by_test_id("transcript").locator(":scope > li")
    await expect(messages).to_have_count(4)
    assert await messages.get_by_test_id("message-author").all_inner_texts() == ["客户", "AI", "客户", "AI"]
    await expect(messages.nth(0)).to_contain_text("你好，想了解一下热玛吉的价格")  # oldest first
    await expect(messages.nth(2)).to_contain_text("你们这些骗子，垃圾客服！")

    runs = page.get_by_test_id("run-details")
    await expect(runs).to_have_count(2)  # one per run, under its reply
    last = runs.nth(1)
    await last.locator("summary").first.click()
    await expect(last.get_by_test_id("run-status")).to_have_text("completed")
    inputs = last.get_by_test_id("agent-compliance_input")
    await expect(inputs.get_by_test_id("input-verdict")).to_have_text("需注意")
    finding = inputs.locator('li[data-category="abuse"]').first
    await expect(finding).to_contain_text("辱骂")
    await expect(finding).to_contain_text("你们这些骗子")
    await expect(last.get_by_test_id("agent-compliance_output").get_by_test_id("output-verdict")).to_have_text("通过")
    await expect(last.get_by_test_id("sentiment-label")).to_have_text("消极")
    await expect(last.get_by_test_id("agent-intent")).to_contain_text("预约意向")
    await expect(last.get_by_test_id("agent-memory")).to_be_visible()
    await expect(last.get_by_test_id("agent-products")).to_be_visible()
    await expect(last.get_by_test_id("agent-sales")).to_contain_text("offline")
    await expect(last.get_by_test_id("run-tokens")).to_have_text(re.compile(r"^[1-9]\d* / [1-9]\d*$"))
    await expect(last.get_by_test_id("run-cost")).to_have_text("$0.0000")
    await expect(last.get_by_test_id("run-time")).to_have_text(re.compile(r"^\d+\.\d\d s$"))
    await expect(last.locator(".run-timings")).to_contain_text("总计")

    first = runs.nth(0)
    await first.locator("summary").first.click()
    await expect(first.get_by_test_id("sentiment-label")).to_have_text("中性")
    await expect(first.get_by_test_id("input-verdict")).to_have_text("通过")
    await screenshot(page, "conversations")

    # An opened run stays open when the view reloads.
    await page.get_by_role("button", name="刷新").click()
    await expect(page.get_by_test_id("run-details").nth(1)).to_have_attribute("open", "")


async def test_a_thread_is_handed_off_answered_by_a_person_and_released(page: Page, console: Console):
    chat = await new_chat(console, "你好，想了解一下热玛吉的价格")
    await sign_in(page, console, console.keys["tenant-a"])
    await open_thread(page, console, chat)
    status = page.locator(".conv-head").get_by_test_id("thread-status")
    await expect(status).to_have_text("AI 接待")

    await page.get_by_label("转人工原因").fill("客户情绪激动，需要店长跟进")
    await page.get_by_role("button", name="转人工").click()
    await expect(status).to_contain_text("HANDOFF")
    await expect(page.get_by_test_id("handoff-reason")).to_have_text("原因：客户情绪激动，需要店长跟进")
    await expect(page.get_by_role("status")).to_have_text("已转人工。")

    # In the list: the badge and its reason; the filter finds it with a person, not with the AI.
    await page.get_by_role("link", name="← 返回会话列表").click()
    row = page.locator(f'[data-thread-id="{chat.thread_id}"]')
    await expect(row.get_by_test_id("thread-status")).to_contain_text("HANDOFF")
    await expect(row).to_contain_text("原因：客户情绪激动，需要店长跟进")
    await page.get_by_text("人工接待中", exact=True).click()
    await expect(row).to_be_visible()
    await page.get_by_text("AI 接待中", exact=True).click()
    await expect(page.get_by_test_id("thread-list").or_(page.get_by_text("暂无数据"))).to_be_visible()
    await expect(row).to_have_count(0)
    await page.get_by_text("全部", exact=True).click()
    await expect(row).to_be_visible()

    # The customer writes while a person has the thread: stored, no AI reply.
    async with tenant_api(console) as client:
        body = await say(client, chat.thread_id, chat.assistant_id, "我想找店长聊聊")
        assert body["status"] == "handoff"
    await row.get_by_role("link").click()
    messages = page.get_by_test_id("transcript").locator(":scope > li")
    await expect(messages).to_have_count(3)
    await expect(messages.nth(2)).to_contain_text("我想找店长聊聊")
    handoff_run = messages.nth(2).get_by_test_id("run-details")
    await handoff_run.locator("summary").first.click()
    await expect(handoff_run).to_contain_text("会话在人工手中")

    await page.get_by_role("button", name="生成建议回复").click()
    suggestions = page.get_by_test_id("suggestions").locator(":scope > li")
    await expect(suggestions).to_have_count(3)
    second = (await suggestions.nth(1).locator(".suggestion-text").inner_text()).strip()
    assert second
    await page.get_by_role("button", name="把第 2 条建议填入回复框").click()
    answer = page.get_by_label("人工回复")
    await expect(answer).to_have_value(second)
    await expect(answer).to_be_focused()
    reply = "您好，我是店长小林，马上为您处理。"
    await answer.fill(reply)
    await page.get_by_role("button", name="发送回复").click()
    await expect(messages).to_have_count(4)
    await expect(messages.nth(3)).to_have_attribute("data-author", "human")
    await expect(messages.nth(3).get_by_test_id("message-author")).to_have_text("人工客服")
    await expect(messages.nth(3)).to_contain_text(reply)
    await expect(page.get_by_role("status")).to_have_text("回复已发送。")
    async with tenant_api(console) as client:
        stored = (await client.get(f"/v1/threads/{chat.thread_id}/messages")).json()["messages"][0]
        assert (stored["author"], stored["role"], stored["content"]) == ("human", "assistant", reply)

    await page.get_by_role("button", name="交还 AI").click()
    await expect(status).to_have_text("AI 接待")
    await expect(page.get_by_test_id("handoff-reason")).to_have_count(0)
    await expect(page.get_by_role("button", name="转人工")).to_be_visible()
    await expect(page.get_by_role("button", name="交还 AI")).to_have_count(0)
    await page.get_by_role("link", name="← 返回会话列表").click()
    await expect(page.locator(f'[data-thread-id="{chat.thread_id}"]').get_by_test_id("thread-status")).to_have_text("AI 接待")


async def test_another_tenants_thread_is_the_apis_404_and_nothing_of_it(page: Page, console: Console):
    chat = await new_chat(console, "你好，想了解一下热玛吉的价格")
    await sign_in(page, console, console.keys["tenant-b"])
    await page.goto(f"{console.url}/console/#/conversations/{chat.thread_id}")
    await expect(page.get_by_role("alert")).to_contain_text("THREAD_NOT_FOUND")
    await expect(page.get_by_test_id("http-status")).to_have_text("HTTP 404")
    main = page.locator("main")
    for hidden in (chat.nickname, "王小雨", "热玛吉"):
        await expect(main).not_to_contain_text(hidden)
    for testid in ("transcript", "profile", "run-details", "handoff-panel"):
        await expect(page.get_by_test_id(testid)).to_have_count(0)
    await expect(page.get_by_label("转人工原因")).to_have_count(0)
    await page.goto(f"{console.url}/console/#/conversations")
    await expect(page.get_by_text("小雨-")).to_have_count(0)  # tenant-a's threads are not listed either


async def test_a_tenant_admin_erases_the_customer_and_sees_what_each_store_removed(page: Page, console: Console):
    chat = await new_chat(console, "我叫王小雨，电话13812345678，对酒精过敏")
    await sign_in(page, console, console.keys["tenant-a"])
    await open_thread(page, console, chat)
    erase = page.get_by_role("button", name="永久删除")
    await erase.click()  # not confirmed yet: nothing happens
    await expect(page.get_by_test_id("erase-receipt")).to_have_count(0)
    await page.get_by_label("我确认永久删除这个会话的全部客户数据").check()
    await erase.click()
    receipt = page.get_by_test_id("erase-receipt")
    await expect(receipt).to_contain_text("messages: 2", timeout=RUN_TIMEOUT_S * 1000)
    await expect(receipt).to_contain_text("threads: 1")
    await expect(receipt).to_contain_text("longterm_sqlite_fts")
    await screenshot(page, "conversations-erased")
    await page.goto(f"{console.url}/console/#/conversations")
    await expect(page.get_by_test_id("thread-list").or_(page.get_by_text("暂无数据"))).to_be_visible()  # the list loaded
    await expect(page.locator("main")).not_to_contain_text(chat.nickname)
    await page.goto(f"{console.url}/console/#/conversations/{chat.thread_id}")
    await expect(page.get_by_role("alert")).to_contain_text("THREAD_NOT_FOUND")


async def test_the_page_works_on_a_phone_with_the_keyboard_and_in_english(phone: Page, console: Console):
    chat = await new_chat(console, "你们这些骗子，垃圾客服！")
    page = phone
    await sign_in(page, console, console.keys["tenant-a"])
    await page.goto(f"{console.url}/console/#/conversations")
    link = page.locator(f'[data-thread-id="{chat.thread_id}"]').get_by_role("link")
    await link.focus()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{console.url}/console/#/conversations/{chat.thread_id}")
    summary = page.get_by_test_id("run-details").locator("summary").first
    await summary.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("sentiment-label")).to_have_text("消极")
    await assert_fits(page, "the thread view")

    await page.get_by_label("转人工原因").focus()
    await page.keyboard.type("客户投诉")
    await page.keyboard.press("Enter")  # submits the form
    await expect(page.locator(".conv-head").get_by_test_id("thread-status")).to_contain_text("HANDOFF")
    await assert_fits(page, "the hand-off panel")

    await page.get_by_label("Language / 语言").select_option("en")
    await expect(page.get_by_role("heading", name="Transcript")).to_be_visible()
    await expect(page.get_by_role("button", name="Release to the AI")).to_be_visible()
    await expect(page.locator(".conv-head").get_by_test_id("thread-status")).to_have_text("HANDOFF · with a person")
    await page.get_by_role("button", name="Release to the AI").click()
    await expect(page.locator(".conv-head").get_by_test_id("thread-status")).to_have_text("With the AI")

    await page.goto(f"{console.url}/console/#/conversations")
    await expect(page.get_by_test_id("thread-list")).to_be_visible()
    await assert_fits(page, "the thread list")
