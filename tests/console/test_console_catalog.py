"""The catalog page: import a file (NDJSON or a JSON array) with the count imported and each refused item, pasted
text, a body the API refuses as a whole, and a search of what was imported, with its scores."""

from __future__ import annotations

import json
import re
import uuid

from playwright.async_api import Page, expect

from tests.console.conftest import Console, assert_fits, screenshot, sign_in

# The first import or search of a session warms up the product index (its embedder) and may take several seconds.
INDEX_TIMEOUT = 60_000


def products(tag: str) -> list[dict]:
    return [
        {"product_id": f"hya-{tag}", "name": f"水光焕颜针 {tag}", "category": "注射美容", "description": "补水保湿，改善肤质粗糙",
         "price": 1680, "tags": ["水光", tag], "indications": ["干燥", "暗沉"], "aliases": [f"Aqua{tag}"]},
        {"product_id": f"bad-{tag}", "category": "注射美容", "description": "没有名称的商品"},  # refused: no name
        {"product_id": f"laser-{tag}", "name": f"皮秒祛斑 {tag}", "category": "光电项目", "description": "淡化色斑",
         "tags": ["皮秒", tag]},
    ]


async def test_a_file_with_one_bad_item_is_imported_and_its_products_found(page: Page, console: Console):
    tag = uuid.uuid4().hex[:8]
    items = products(tag)
    await sign_in(page, console, console.keys["tenant-a"])
    await page.get_by_role("link", name="商品库").click()
    await expect(page.get_by_role("heading", name="导入商品")).to_be_visible()

    ndjson = "\n".join(json.dumps(item, ensure_ascii=False) for item in items) + "\n"
    await page.get_by_label("选择文件").set_input_files(
        files=[{"name": "products.ndjson", "mimeType": "application/x-ndjson", "buffer": ndjson.encode()}])
    await expect(page.get_by_text("已读取文件 products.ndjson（3 行）。")).to_be_visible()
    await expect(page.get_by_label("格式")).to_have_value("ndjson")
    await page.get_by_role("button", name="导入").click()

    await expect(page.get_by_test_id("import-summary")).to_have_text("导入完成：新增 2 个，更新 0 个，失败 1 个。", timeout=INDEX_TIMEOUT)
    failures = page.get_by_test_id("import-failures").locator("tbody tr")
    await expect(failures).to_have_count(1)
    await expect(failures.first.locator("td").nth(0)).to_have_text("1")
    await expect(failures.first.locator("td").nth(1)).to_have_text(f"bad-{tag}")
    await expect(failures.first.locator("td").nth(2)).to_contain_text("name")

    await page.get_by_label("搜索内容").fill(f"水光焕颜针 {tag}")
    await page.get_by_label("返回条数").fill("3")
    await page.get_by_role("button", name="搜索").click()
    results = page.get_by_test_id("search-results")
    hit = results.locator(f"li[data-product-id='hya-{tag}']")
    await expect(hit).to_be_visible(timeout=INDEX_TIMEOUT)
    await expect(hit).to_contain_text(f"水光焕颜针 {tag}")
    await expect(hit.get_by_test_id("score")).to_have_text(re.compile(r"^得分 \d+\.\d{4}$"))
    await expect(results.locator("li").first).to_have_attribute("data-product-id", f"hya-{tag}")
    assert await results.locator("li").count() <= 3
    await screenshot(page, "catalog")


async def test_pasted_json_updates_and_a_broken_body_is_refused_whole(page: Page, console: Console):
    tag = uuid.uuid4().hex[:8]
    first, _, second = products(tag)
    await sign_in(page, console, console.keys["tenant-a"])
    await page.goto(f"{console.url}/console/#/catalog")

    text = page.get_by_label("商品数据")
    await text.fill(json.dumps([first], ensure_ascii=False))
    await page.get_by_role("button", name="导入").click()
    await expect(page.get_by_test_id("import-summary")).to_have_text("导入完成：新增 1 个，更新 0 个，失败 0 个。", timeout=INDEX_TIMEOUT)

    batch = [{**first, "price": 1880}, second, {"product_id": "", "name": "空 ID"}]
    await text.fill(json.dumps(batch, ensure_ascii=False, indent=2))
    await page.get_by_role("button", name="导入").click()  # detected as a JSON array
    await expect(page.get_by_test_id("import-summary")).to_have_text("导入完成：新增 1 个，更新 1 个，失败 1 个。", timeout=INDEX_TIMEOUT)
    row = page.get_by_test_id("import-failures").locator("tbody tr")
    await expect(row.locator("td").nth(0)).to_have_text("2")
    await expect(row.locator("td").nth(1)).to_have_text("空 ID")
    await expect(row.locator("td").nth(2)).to_contain_text("product_id")

    await text.fill('[{"product_id": "x",')
    await page.get_by_label("格式").select_option("json")
    await page.get_by_role("button", name="导入").click()
    await expect(page.get_by_role("alert")).to_contain_text("INVALID_BODY")

    await text.fill("")
    await page.get_by_role("button", name="导入").click()
    await expect(page.get_by_role("alert")).to_have_text("请先选择文件或粘贴商品数据。")


async def test_the_catalog_page_works_on_a_phone(phone: Page, console: Console):
    tag = uuid.uuid4().hex[:8]
    page = phone
    await sign_in(page, console, console.keys["tenant-a"])
    await page.goto(f"{console.url}/console/#/catalog")
    ndjson = "\n".join(json.dumps(item, ensure_ascii=False) for item in products(tag))
    await page.get_by_label("商品数据").fill(ndjson)
    await page.get_by_role("button", name="导入").click()
    await expect(page.get_by_test_id("import-summary")).to_contain_text("失败 1 个", timeout=INDEX_TIMEOUT)
    await page.get_by_label("搜索内容").focus()
    await page.keyboard.type(f"皮秒祛斑 {tag}")
    await page.keyboard.press("Enter")
    hit = page.get_by_test_id("search-results").locator(f"li[data-product-id='laser-{tag}']")
    await expect(hit).to_be_visible(timeout=INDEX_TIMEOUT)
    await assert_fits(page, "the catalog page")
