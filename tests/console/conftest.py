"""A real Chromium (Debian's ``chromium``, through Playwright) driving the console of an app served over HTTP.

The app runs in uvicorn on a thread, on its own SQLite file, with the offline LLM; keys and tenants are made before
it starts. Without a Chromium these tests skip, except under ``MAS_TEST_REQUIRE_SERVICES=1`` (CI installs it).
``MAS_CONSOLE_SCREENSHOTS=<dir>`` saves a screenshot of each page a test names (the docs' images)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from api.app import create_app
from api.scopes import ALL_SCOPES, PLATFORM_TENANT, TENANT_ADMIN, TENANT_CHAT
from runtime.services import Services
from runtime.settings import Settings
from tests.conftest import REQUIRE_SERVICES

CHROMIUM = os.environ.get("MAS_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = os.environ.get("MAS_CONSOLE_SCREENSHOTS")


@dataclass
class Console:
    url: str
    settings: Settings
    platform_key: str
    keys: dict[str, str]  # "tenant-a", "tenant-b": tenant:admin + tenant:chat; "tenant-a-chat": tenant:chat only


async def _seed(settings: Settings) -> tuple[str, dict[str, str]]:
    services = await Services.open(settings, run_worker=False)
    try:
        for tenant_id, name in (("tenant-a", "光彩医美"), ("tenant-b", "悦颜诊所")):
            await services.tenants.upsert(tenant_id, {"tenant_name": name})
        platform = await services.app_keys.create("console platform", PLATFORM_TENANT, list(ALL_SCOPES))
        keys = {
            "tenant-a": (await services.app_keys.create("a", "tenant-a", [TENANT_ADMIN, TENANT_CHAT])).key,
            "tenant-b": (await services.app_keys.create("b", "tenant-b", [TENANT_ADMIN, TENANT_CHAT])).key,
            "tenant-a-chat": (await services.app_keys.create("a chat", "tenant-a", [TENANT_CHAT])).key,
        }
        return platform.key, keys
    finally:
        await services.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
async def console(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Console]:
    data = tmp_path_factory.mktemp("console")
    settings = Settings(data_dir=data / "data", jwt_secret="console-test-" + "x" * 52)
    platform_key, keys = await _seed(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="console-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the console's app did not start"
        await asyncio.sleep(0.05)
    try:
        yield Console(f"http://127.0.0.1:{port}", settings, platform_key, keys)
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM:
        message = "no Chromium (apt install chromium, or MAS_TEST_CHROMIUM=<path>)"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message}; MAS_TEST_REQUIRE_SERVICES=1: the browser tests must run")
        pytest.skip(message)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        await chromium.close()


@asynccontextmanager
async def _tab(browser: Browser, width: int, height: int) -> AsyncIterator[Page]:
    """A fresh tab (its own sessionStorage), Chinese first; a script error on it fails the test."""
    context = await browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    tab = await context.new_page()
    tab.set_default_timeout(15_000)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    await context.close()
    assert errors == [], f"script errors in the console: {errors}"


@pytest.fixture
async def page(browser: Browser, console: Console) -> AsyncIterator[Page]:
    """A tab at 1280 × 800."""
    async with _tab(browser, 1280, 800) as tab:
        yield tab


@pytest.fixture
async def phone(browser: Browser, console: Console) -> AsyncIterator[Page]:
    """A tab the size of a phone, 390 × 844."""
    async with _tab(browser, 390, 844) as tab:
        yield tab


async def assert_fits(page: Page, what: str) -> None:
    """The page does not scroll sideways."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"] if page.viewport_size else width
    assert width <= viewport, f"{what} scrolls sideways at {viewport} px ({width} px wide)"


@asynccontextmanager
async def tenant_api(console: Console, key: str = "tenant-a") -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client holding a token for ``console.keys[key]``: the data a test needs, made the way a client would."""
    async with httpx.AsyncClient(base_url=console.url, timeout=120) as client:
        issued = await client.post("/v1/auth/token", headers={"X-App-Key": console.keys[key]})
        assert issued.status_code == 200, issued.text
        client.headers["Authorization"] = f"Bearer {issued.json()['access_token']}"
        yield client


async def sign_in(page: Page, console: Console, key: str, tenant: str | None = None) -> None:
    """Open the console and sign in with ``key``; a platform key then picks ``tenant``."""
    await page.goto(f"{console.url}/console/")
    await page.get_by_label("App Key").fill(key)
    await page.get_by_role("button", name="登录").click()
    if tenant is not None:
        await page.get_by_label("租户").select_option(tenant)
        await page.get_by_role("button", name="进入").click()
    await page.get_by_test_id("tenant").wait_for()


async def screenshot(page: Page, name: str) -> None:
    """Saves the page for the docs when ``MAS_CONSOLE_SCREENSHOTS`` names a directory."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)
