"""The real thing: `mas start` brings up a local Ray cluster, deploys configs/serve.yaml, serves HTTP, and stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

pytestmark = pytest.mark.serve

START_TIMEOUT_S = 240


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _raylet_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-x", "raylet"], capture_output=True, text=True).stdout
    return {int(pid) for pid in out.split()}


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    api: str
    dashboard: str
    data_dir: Path
    log: Path


@pytest.fixture(scope="module", params=["serve", "haproxy"])
def mas_service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """`mas start` with each HTTP proxy it offers."""
    data_dir = tmp_path_factory.mktemp("mas-serve")
    log = data_dir / "start.log"
    api_port, dashboard_port = _free_port(), _free_port()
    env = {**os.environ, "MAS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    env.pop("MAS_DATABASE_URL", None)
    before = _raylet_pids()
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "mas.cli", "start", "--port", str(api_port), "--dashboard-port", str(dashboard_port),
             "--proxy", request.param],
            stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    running = Running(process, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dashboard_port}", data_dir, log)
    try:
        _wait_for_banner(running)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        leaked = _raylet_pids() - before
        if leaked:
            subprocess.run(["ray", "stop", "--force"], capture_output=True)
        assert not leaked, f"raylet still running after mas start stopped: {leaked}"


def _wait_for_banner(running: Running) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if "MAS is running" in running.log.read_text(errors="replace"):
            return
        if running.process.poll() is not None:
            break
        time.sleep(1)
    pytest.fail(f"mas start did not come up; log:\n{running.log.read_text(errors='replace')[-5000:]}")


def test_banner_tells_a_newcomer_where_everything_is(mas_service: Running) -> None:
    banner = mas_service.log.read_text()
    key = (mas_service.data_dir / "dev_app_key").read_text().strip()
    assert f"{mas_service.api}/docs" in banner
    assert mas_service.dashboard in banner and "~/.ray/auth_token" in banner
    assert key in banner


def test_full_flow_over_http_through_the_serve_proxy(mas_service: Running) -> None:
    key = (mas_service.data_dir / "dev_app_key").read_text().strip()
    with httpx.Client(base_url=mas_service.api, timeout=30) as http:
        assert http.get("/v1/ready").json()["status"] == "ready"
        token = http.post("/v1/auth/token", headers={"X-App-Key": key}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        synced = http.post("/v1/tenants/sync", headers=auth, json={"tenant_id": "serve-brand", "tenant_name": "光彩医美"})
        assert synced.status_code in (200, 201)
        tenant = {**auth, "X-Tenant-ID": "serve-brand"}
        created = http.post(
            "/v1/assistants", headers=tenant,
            json={"assistant_name": "小雅", "personality": "耐心", "occupation": "皮肤管理顾问", "industry": "医美"},
        )
        assert created.status_code == 201
        assistant_id = created.json()["assistant_id"]
        assert http.get(f"/v1/assistants/{assistant_id}", headers=tenant).json()["assistant_name"] == "小雅"
        thread = http.post("/v1/threads", headers=tenant, json={"assistant_id": assistant_id, "nickname": "Lily"})
        assert thread.status_code == 201 and thread.json()["status"] == "IDLE"

        missing = http.get("/v1/assistants/does-not-exist", headers={**tenant, "X-Request-ID": "serve-req-1"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "ASSISTANT_NOT_FOUND"
        assert missing.headers.get_list("x-request-id") == ["serve-req-1"]
        assert missing.json()["request_id"] == "serve-req-1"
        assert http.get("/docs").status_code == 200


def test_llm_memory_and_products_answer_through_their_own_deployments(mas_service: Running) -> None:
    """Each call crosses a handle to another deployment; their errors keep their status and code."""
    key = (mas_service.data_dir / "dev_app_key").read_text().strip()
    with httpx.Client(base_url=mas_service.api, timeout=60) as http:
        token = http.post("/v1/auth/token", headers={"X-App-Key": key}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        http.post("/v1/tenants/sync", headers=auth, json={"tenant_id": "serve-deps", "tenant_name": "丽颜美妆"})
        tenant = {**auth, "X-Tenant-ID": "serve-deps"}

        product = {"product_id": "p1", "name": "补水嫩肤疗程", "category": "皮肤管理", "description": "深层补水", "aliases": ["水光针"]}
        assert http.post("/v1/products/import", headers=tenant, json=[product]).json() == {"imported": 1, "updated": 0, "failed": []}
        hits = http.get("/v1/products/search", headers=tenant, params={"q": "水光针"}).json()["results"]
        assert hits[0]["product_id"] == "p1"

        thread_id = http.post("/v1/threads", headers=tenant, json={}).json()["thread_id"]
        inserted = http.post("/v1/memory/insert", headers=tenant, json={"thread_id": thread_id, "memories": ["对酒精过敏"]}).json()
        found = http.get("/v1/memory/search", headers=tenant, params={"q": "过敏", "thread_id": thread_id}).json()["results"]
        assert [m["memory_id"] for m in found] == [inserted["results"][0]["memory_id"]]

        answer = http.post("/v1/messages", headers=tenant, json={"message": "你好"}).json()
        assert answer["model"] == "offline" and answer["content"]
        unknown = http.post("/v1/messages", headers=tenant, json={"message": "hi", "model": "no-such-model"})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "UNKNOWN_MODEL"

    client = openai.OpenAI(base_url=f"{mas_service.api}/v1", api_key=token, default_headers={"X-Tenant-ID": "serve-deps"}, max_retries=0)
    plain = client.chat.completions.create(model="chat-default", messages=[{"role": "user", "content": "推荐补水项目"}])
    streamed = client.chat.completions.create(model="chat-default", messages=[{"role": "user", "content": "推荐补水项目"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == plain.choices[0].message.content


def test_dashboard_shows_the_application_running(mas_service: Running) -> None:
    token_file = Path.home() / ".ray" / "auth_token"
    headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"} if token_file.exists() else {}
    details = httpx.get(f"{mas_service.dashboard}/api/serve/applications/", headers=headers, timeout=30)
    assert details.status_code == 200, details.text[:500]
    app = details.json()["applications"]["mas"]
    assert app["status"] == "RUNNING"
    assert {name: d["status"] for name, d in app["deployments"].items()} == dict.fromkeys(
        ["Ingress", "LLMRouter", "Memory", "Product"], "HEALTHY"
    )
