"""The assistants and prompts page: create an assistant, save prompt versions (each checked by the validator first,
its issues shown on their fields), compare two versions, roll back, a conflicting save, and what another tenant's
key sees (nothing: the API's 404)."""

from __future__ import annotations

import re
import uuid

from playwright.async_api import Page, expect

from tests.console.conftest import Console, assert_fits, screenshot, sign_in, tenant_api


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def assistant_with_prompts(console: Console, name: str, *personalities: str) -> str:
    """A tenant-a assistant made through the API, with a prompt version per personality."""
    async with tenant_api(console) as api:
        created = await api.post("/v1/assistants", json={"assistant_name": name, "personality": "亲切", "occupation": "皮肤管理顾问",
                                                         "industry": "医美"})
        assert created.status_code == 201, created.text
        assistant_id = created.json()["assistant_id"]
        for index, personality in enumerate(personalities):
            body = {"prompt_config": {"personality_prompt": personality}}
            if index == 0:
                saved = await api.post(f"/v1/prompts/{assistant_id}", json=body)
            else:
                saved = await api.put(f"/v1/prompts/tenant-a/{assistant_id}", json=body)
            assert saved.status_code in (200, 201), saved.text
        return assistant_id


async def test_an_assistant_is_created_and_its_prompt_saved_checked_compared_and_rolled_back(page: Page, console: Console):
    await sign_in(page, console, console.keys["tenant-a"])
    await page.get_by_role("link", name="助手与提示词").click()
    await expect(page.get_by_role("heading", name="新建助手")).to_be_visible()

    name = unique("小美")
    await page.get_by_label("助手名称", exact=True).fill(name)
    await page.get_by_label("性格", exact=True).fill("温柔、耐心")
    await page.get_by_label("职业", exact=True).fill("皮肤管理顾问")
    await page.get_by_label("行业", exact=True).fill("医美")
    await page.get_by_role("button", name="创建助手").click()
    await expect(page.get_by_role("heading", name=f"提示词：{name}")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"#/prompts/[^/]+$"))
    assistant_id = page.url.rsplit("/", 1)[1]
    await expect(page.get_by_test_id("prompt-notice")).to_contain_text(name)
    await expect(page.get_by_test_id("assistants").get_by_role("link", name=name)).to_have_attribute("aria-current", "true")
    await expect(page.get_by_test_id("active-version")).to_have_text("该助手还没有提示词，保存后生成 v1。")

    # v1
    first = "你是{assistant_name}，一位耐心的皮肤管理顾问。"
    await page.get_by_label("人设提示词").fill(first)
    await page.get_by_label("安全准则").fill("不做医疗诊断\n涉及疗效时提醒顾客以医生面诊为准")
    await page.get_by_role("button", name="保存为新版本").click()
    await expect(page.get_by_test_id("active-version")).to_have_text("当前生效版本 v1")
    await expect(page.get_by_test_id("prompt-notice")).to_have_text("已保存，当前生效版本为 v1。")
    assert await page.get_by_label("安全准则").input_value() == "不做医疗诊断\n涉及疗效时提醒顾客以医生面诊为准"

    # v2: an edit
    second = "你是{assistant_name}，一位专业的皮肤管理顾问。"
    await page.get_by_label("人设提示词").fill(second)
    await page.get_by_role("button", name="保存为新版本").click()
    await expect(page.get_by_test_id("active-version")).to_have_text("当前生效版本 v2")

    # A bad value: the validator's issue is shown on the field it names, and nothing is saved.
    await page.get_by_label("安全准则").fill("不做医疗诊断\n称呼顾客为{customer_title}")
    await page.get_by_role("button", name="保存为新版本").click()
    guidelines = page.get_by_label("安全准则")
    await expect(guidelines).to_have_attribute("aria-invalid", "true")
    issues = page.locator("#pf-safety_guidelines-issues")
    await expect(issues).to_contain_text("第 2 条")
    await expect(issues).to_contain_text("UNKNOWN_PLACEHOLDER")
    await expect(issues).to_contain_text("customer_title")
    await expect(page.get_by_label("人设提示词")).not_to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_test_id("prompt-invalid")).to_contain_text("1 个问题")
    await expect(page.get_by_test_id("active-version")).to_have_text("当前生效版本 v2")
    # An advertising-law claim in an instruction is named on its field too.
    await page.get_by_label("安全准则").fill("不做医疗诊断")
    await page.get_by_label("人设提示词").fill("你是{assistant_name}，告诉顾客我们的效果100%有效。")
    await page.get_by_role("button", name="检查").click()
    await expect(page.get_by_label("人设提示词")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#pf-personality_prompt-issues")).to_contain_text("ADVERTISING_RULE")
    await expect(page.get_by_label("安全准则")).not_to_have_attribute("aria-invalid", "true")
    await page.get_by_role("button", name="放弃修改").click()
    await expect(page.get_by_label("人设提示词")).to_have_value(second)

    # The diff of v1 and v2: the changed line removed on the left, added on the right.
    await page.get_by_label("左侧版本").select_option("1")
    await page.get_by_label("右侧版本").select_option("2")
    diff = page.get_by_test_id("diff")
    await expect(page.get_by_test_id("diff-summary")).to_have_text("v1 → v2：删除 1 行，新增 1 行。")
    await expect(diff.locator("del")).to_have_count(1)
    await expect(diff.locator("ins")).to_have_count(1)
    await expect(diff.locator("del")).to_have_text('  "personality_prompt": "你是{assistant_name}，一位耐心的皮肤管理顾问。",')
    await expect(diff.locator("ins")).to_have_text('  "personality_prompt": "你是{assistant_name}，一位专业的皮肤管理顾问。",')
    await expect(diff).to_contain_text("不做医疗诊断")  # unchanged lines are shown too, not marked

    # Roll back to v1: v3 is active with v1's content.
    await page.get_by_role("button", name="回滚到 v1").click()
    await expect(page.get_by_test_id("active-version")).to_have_text("当前生效版本 v3")
    await expect(page.get_by_test_id("prompt-notice")).to_contain_text("v1 的内容现为生效版本 v3")
    await expect(page.get_by_label("人设提示词")).to_have_value(first)
    await expect(page.get_by_test_id("versions").locator("tbody tr")).to_have_count(3)
    await expect(page.get_by_test_id("versions").locator("tr[data-version='3']")).to_contain_text("rollback to v1")
    await expect(page.get_by_test_id("diff-summary")).to_have_text("v2 → v3：删除 1 行，新增 1 行。")
    await screenshot(page, "prompts")

    async with tenant_api(console) as api:
        active = (await api.get(f"/v1/prompts/{assistant_id}")).json()
        v1 = (await api.get(f"/v1/prompts/{assistant_id}/tenant-a/1")).json()
    assert active["version"] == 3 and active["is_active"]
    assert active["prompt_config"] == v1["prompt_config"]
    assert active["prompt_config"]["personality_prompt"] == first

    # A deep link opens the same assistant.
    await page.goto(f"{console.url}/console/#/prompts")
    await page.goto(f"{console.url}/console/#/prompts/{assistant_id}")
    await expect(page.get_by_test_id("active-version")).to_have_text("当前生效版本 v3")


async def test_the_create_form_shows_the_apis_validation_errors_on_their_fields(page: Page, console: Console):
    await sign_in(page, console, console.keys["tenant-a"])
    await page.goto(f"{console.url}/console/#/prompts")
    await page.get_by_label("助手名称", exact=True).fill("   ")  # not empty for the browser, blank for the API
    await page.get_by_label("性格", exact=True).fill("温柔")
    await page.get_by_label("职业", exact=True).fill("顾问")
    await page.get_by_label("行业", exact=True).fill("医美")
    await page.get_by_role("button", name="创建助手").click()
    await expect(page.get_by_role("alert").first).to_contain_text("VALIDATION_ERROR")
    await expect(page.get_by_label("助手名称", exact=True)).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#af-assistant_name-issues")).to_be_visible()
    await expect(page.get_by_label("职业", exact=True)).not_to_have_attribute("aria-invalid", "true")
    await expect(page).to_have_url(re.compile(r"#/prompts$"))


async def test_a_save_made_on_an_old_version_is_refused_as_a_conflict(page: Page, console: Console):
    name = unique("小雅")
    assistant_id = await assistant_with_prompts(console, name, "你是{assistant_name}，回答简洁。")
    await sign_in(page, console, console.keys["tenant-a"])
    await page.goto(f"{console.url}/console/#/prompts/{assistant_id}")
    await expect(page.get_by_test_id("active-version")).to_have_text("当前生效版本 v1")

    async with tenant_api(console) as api:  # someone else saves v2 meanwhile
        response = await api.put(f"/v1/prompts/tenant-a/{assistant_id}", json={"prompt_config": {"greeting_prompt": "您好！"}})
        assert response.status_code == 200, response.text

    await page.get_by_label("人设提示词").fill("你是{assistant_name}，回答简洁、礼貌。")
    await page.get_by_role("button", name="保存为新版本").click()
    conflict = page.get_by_test_id("prompt-conflict")
    await expect(conflict).to_contain_text("你是在 v1 上修改的，但现在生效的是 v2")
    await expect(conflict).to_contain_text("PROMPT_VERSION_CONFLICT")
    await expect(page.get_by_label("人设提示词")).to_have_value("你是{assistant_name}，回答简洁、礼貌。")  # the edit is kept
    await conflict.get_by_role("button", name="重新加载最新版本").click()
    await expect(page.get_by_test_id("active-version")).to_have_text("当前生效版本 v2")
    await expect(page.get_by_label("开场白")).to_have_value("您好！")


async def test_another_tenants_key_sees_nothing_of_the_assistant(page: Page, console: Console):
    name = unique("私有助手")
    secret = f"你是{{assistant_name}}，内部话术 {uuid.uuid4().hex[:6]}。"
    assistant_id = await assistant_with_prompts(console, name, secret)

    await sign_in(page, console, console.keys["tenant-b"])
    await page.goto(f"{console.url}/console/#/prompts")
    await expect(page.get_by_role("heading", name="助手列表")).to_be_visible()
    await expect(page.get_by_role("heading", name="提示词", exact=True)).to_be_visible()
    await expect(page.locator("#main")).not_to_contain_text(name)

    await page.goto(f"{console.url}/console/#/prompts/{assistant_id}")
    alert = page.locator(".prompt-editor").get_by_role("alert")
    await expect(alert).to_contain_text("ASSISTANT_NOT_FOUND")
    main = page.locator("#main")
    await expect(main).not_to_contain_text(name)
    await expect(main).not_to_contain_text(secret)
    await expect(page.get_by_label("人设提示词")).to_have_count(0)


async def test_the_prompts_page_works_on_a_phone_with_the_keyboard(phone: Page, console: Console):
    name = unique("小林")
    assistant_id = await assistant_with_prompts(console, name, "你是{assistant_name}，语气温和。", "你是{assistant_name}，语气温和、专业。")
    page = phone
    await sign_in(page, console, console.keys["tenant-a"])
    await page.goto(f"{console.url}/console/#/prompts/{assistant_id}")
    await expect(page.get_by_test_id("active-version")).to_have_text("当前生效版本 v2")
    added = page.get_by_test_id("diff").locator("ins")
    await expect(added).to_have_text('  "personality_prompt": "你是{assistant_name}，语气温和、专业。",')

    await page.get_by_label("人设提示词").focus()
    await page.keyboard.press("Control+End")
    await page.keyboard.type("回答不超过三句话。")
    await page.get_by_role("button", name="保存为新版本").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("active-version")).to_have_text("当前生效版本 v3")
    await expect(page.get_by_test_id("prompt-notice")).to_be_focused()
    await assert_fits(page, "the prompts page")
