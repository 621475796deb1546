"""Signing in (tenant key, platform key picking a tenant), the language switch, the compliance checker, and what a
key may not see: the console only calls the API, so the API's scopes and tenancy hold in the browser too."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.console.conftest import Console, assert_fits, screenshot, sign_in


async def test_a_tenant_key_signs_in_and_the_token_stays_in_its_tab(page: Page, console: Console, browser: Browser):
    await sign_in(page, console, console.keys["tenant-a"])
    await expect(page.get_by_test_id("tenant")).to_contain_text("tenant-a")
    assert await page.evaluate("sessionStorage.getItem('mas.console.token')")
    assert await page.evaluate("localStorage.getItem('mas.console.token')") is None
    other = await (await browser.new_context()).new_page()
    await other.goto(f"{console.url}/console/")
    await expect(other.get_by_label("App Key")).to_be_visible()  # another tab signs in on its own
    await other.context.close()
    await page.get_by_role("button", name="退出").click()
    await expect(page.get_by_label("App Key")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('mas.console.token')") is None


async def test_a_wrong_key_is_refused_in_the_error_envelope(page: Page, console: Console):
    await page.goto(f"{console.url}/console/")
    await page.get_by_label("App Key").fill("mas_not_a_key")
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("alert")).to_contain_text("INVALID_APP_KEY")


async def test_a_platform_key_picks_a_tenant_and_can_switch(page: Page, console: Console):
    await sign_in(page, console, console.platform_key, tenant="tenant-b")
    await expect(page.get_by_test_id("tenant")).to_contain_text("tenant-b")
    await page.get_by_role("button", name="切换租户").click()
    await page.get_by_label("租户").select_option("tenant-a")
    await page.get_by_role("button", name="进入").click()
    await expect(page.get_by_test_id("tenant")).to_contain_text("tenant-a")


async def test_the_language_switches_to_english_and_stays(page: Page, console: Console):
    await sign_in(page, console, console.keys["tenant-a"])
    await page.get_by_label("Language / 语言").select_option("en")
    await expect(page.get_by_role("link", name="Compliance check")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("link", name="Compliance check")).to_be_visible()
    assert await page.evaluate("document.documentElement.lang") == "en"
    await page.get_by_label("Language / 语言").select_option("zh-CN")


async def test_copy_is_checked_with_each_violation_highlighted_on_its_span(page: Page, console: Console):
    await sign_in(page, console, console.keys["tenant-a"])
    await page.get_by_role("link", name="合规检查").click()
    await page.get_by_label("待检查文案").fill("我们是全国最好的皮肤管理中心，玻尿酸零风险。欢迎到店咨询。")
    await page.get_by_label("渠道").select_option("ad")
    await page.get_by_role("button", name="检查").click()
    await expect(page.get_by_test_id("verdict")).to_have_text("禁止发布")
    marks = page.get_by_test_id("highlighted").locator("mark")
    await expect(marks).to_have_count(2)
    assert await marks.all_inner_texts() == ["全国最好的", "零风险"]
    assert await marks.first.get_attribute("data-category") == "absolute_terms"
    await expect(page.locator(".violations")).to_contain_text("第九条")
    await expect(page.get_by_test_id("rewritten")).to_have_text("我们是优质的皮肤管理中心，玻尿酸风险较低（需医生评估）。欢迎到店咨询。")
    await screenshot(page, "compliance")


async def test_the_console_works_on_a_phone_sized_screen_with_the_keyboard(phone: Page, console: Console):
    page = phone
    await sign_in(page, console, console.keys["tenant-a"])
    await page.goto(f"{console.url}/console/#/compliance")
    await page.get_by_label("待检查文案").focus()
    await page.keyboard.type("保证一次见效")
    await page.keyboard.press("Tab")  # the channel
    await page.keyboard.press("Tab")  # the button
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("verdict")).to_be_visible()
    await assert_fits(page, "the compliance page")


async def test_a_page_needing_a_scope_the_key_lacks_says_so(page: Page, console: Console):
    await sign_in(page, console, console.keys["tenant-a-chat"])
    await page.goto(f"{console.url}/console/#/usage")
    await expect(page.get_by_role("alert")).to_contain_text("tenant:admin")
