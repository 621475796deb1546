"""The real thing: `mas start` brings up a local Ray cluster, deploys configs/serve.yaml, serves HTTP, and stops cleanly."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.serve.service import Running, mas_started

pytestmark = pytest.mark.serve

DEPLOYMENTS = ["Ingress", "LLMRouter", "Memory", "Product", "Workflow", "Compliance", "Sentiment", "Intent", "Sales", "Social",
               "RunWorker", "BatchDriver"]


@pytest.fixture(scope="module", params=["serve", "haproxy"])
def mas_service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """`mas start` with each HTTP proxy it offers."""
    with mas_started(tmp_path_factory.mktemp("mas-serve"), request.param) as running:
        yield running


def synced_tenant(mas_service: Running, http: httpx.Client, tenant_id: str, name: str) -> tuple[str, dict[str, str]]:
    """A token of the dev (platform) key, and the headers that act as ``tenant_id``, synced first."""
    token = mas_service.token(http)
    auth = {"Authorization": f"Bearer {token}"}
    http.post("/v1/tenants/sync", headers=auth, json={"tenant_id": tenant_id, "tenant_name": name})
    return token, {**auth, "X-Tenant-ID": tenant_id}


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
    with httpx.Client(base_url=mas_service.api, timeout=60) as http:
        token, tenant = synced_tenant(mas_service, http, "serve-deps", "丽颜美妆")

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


def test_a_customer_erased_through_the_ingress_is_gone_from_the_memory_deployment_too(mas_service: Running) -> None:
    """The erasure runs in the Ingress and reaches Memory's stores through its handle; the export, too."""
    with httpx.Client(base_url=mas_service.api, timeout=60) as http:
        _, tenant = synced_tenant(mas_service, http, "serve-erase", "悦颜诊所")
        thread_id = http.post("/v1/threads", headers=tenant, json={"phone": "13812345678"}).json()["thread_id"]
        http.post("/v1/memory/insert", headers=tenant, json={"thread_id": thread_id, "memories": ["电话13812345678，对酒精过敏"]})
        exported = http.get(f"/v1/threads/{thread_id}/export", headers=tenant).json()
        assert [m["text"] for m in exported["memories"]] == ["电话13812345678，对酒精过敏"]

        receipt = http.post("/v1/customers/erase", headers=tenant, json={"phone": "+86 138 1234 5678"})
        assert receipt.status_code == 200 and receipt.json()["receipt"]["longterm_sqlite_fts"] == 1
        assert receipt.json()["receipt"]["vectors_milvus_lite"] == 1 and receipt.json()["receipt"]["threads"] == 1
        assert http.get("/v1/memory/search", headers=tenant, params={"q": "过敏"}).json()["results"] == []
        assert http.get(f"/v1/threads/{thread_id}", headers=tenant).status_code == 404


def test_dashboard_shows_the_application_running(mas_service: Running) -> None:
    app = mas_service.serve_details()
    assert app["status"] == "RUNNING"
    assert {name: d["status"] for name, d in app["deployments"].items()} == dict.fromkeys(DEPLOYMENTS, "HEALTHY")
