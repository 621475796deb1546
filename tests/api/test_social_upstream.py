"""The Social agent over HTTP with a real model route (a scripted OpenAI-wire upstream): a violating draft is rewritten,
a draft with nothing usable regenerated with the violations as feedback, structured answers checked, tokens and cost
reported from the upstream's usage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.compliance import ComplianceAgent
from tests.client import ApiClient
from tests.config_paths import CONFIG_DIR
from tests.llm.fake_servers import UPSTREAM_CATALOG as CATALOG
from tests.llm.fake_servers import FakeOpenAIServer, Reply, route_to

COMPLIANCE = ComplianceAgent.load(CONFIG_DIR / "compliance")
POST = {"product_content": "第一次做水光针，记录一下恢复过程", "likes_num": 120}
PROMPT = "光彩医美，主打水光针"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(autouse=True)
def routed_to_upstream(tmp_path: Path, upstream: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    route_to(upstream, CATALOG, tmp_path, monkeypatch)


async def test_a_violating_draft_is_rewritten_and_billed(tenant_a: ApiClient, upstream: FakeOpenAIServer) -> None:
    upstream.script(Reply(text="水光针效果是全国最好的，保证无副作用！做完记得补水防晒哦。", usage=(1000, 200)))
    body = await tenant_a.expect(200, "POST", "/v1/social-media/comment", json={"product_prompt": PROMPT, "task": POST})
    assert body["message"] and COMPLIANCE.approves(body["message"], "social") and "最好" not in body["message"]
    assert "补水防晒" in body["message"] and len(upstream.requests) == 1
    assert (body["model"], body["input_tokens"], body["output_tokens"]) == ("qwen", 1000, 200)
    assert body["cost_usd"] == pytest.approx(1000 * 2e-6 + 200 * 10e-6)
    assert "水光针" in upstream.requests[0]["messages"][-1]["content"]  # the post reached the model


async def test_a_draft_with_nothing_usable_is_regenerated_with_the_violations(tenant_a: ApiClient, upstream: FakeOpenAIServer) -> None:
    upstream.script(Reply(text="加我微信vx123456私聊，给你内部价。"), Reply(text="恢复期注意补水防晒，有疑问可在平台内咨询我们～"))
    body = await tenant_a.expect(200, "POST", "/v1/social-media/chat", json={"product_prompt": PROMPT, "content": "水光针多少钱"})
    assert body["message"] == "恢复期注意补水防晒，有疑问可在平台内咨询我们～"
    feedback = upstream.requests[1]["messages"][0]["content"]
    assert len(upstream.requests) == 2 and "上一稿的问题" in feedback and "微信" in feedback


async def test_structured_keywords_are_deduplicated_checked_and_topped_up(tenant_a: ApiClient, upstream: FakeOpenAIServer) -> None:
    answer = {"keywords": ["水光针", "全国最好的水光针", "水光针恢复期", "水光针 恢复期"], "summary": "围绕水光针"}
    upstream.script(Reply(text=json.dumps(answer, ensure_ascii=False)))
    body = await tenant_a.expect(200, "POST", "/v1/social-media/keywords", json={
        "product_prompt": PROMPT, "existing_keywords": ["水光针"], "expecting_count": 4})
    assert body["keywords"][0] == "水光针恢复期" and len(body["keywords"]) == 4 and "全国最好的水光针" not in body["keywords"]
    assert body["summary"] == "围绕水光针" and body["model"] == "qwen"


async def test_a_model_profile_is_kept_within_its_contract(tenant_a: ApiClient, upstream: FakeOpenAIServer) -> None:
    thread = await tenant_a.expect(201, "POST", "/v1/threads", json={"nickname": "Lily"})
    answer = {"skin_type": "油皮", "concerns": ["毛孔"], "allergies": [], "budget": None, "treatments_done": [],
              "interested_services": ["水光针"], "journey_stage": "purchase", "intent_strength": "strong", "sentiment": "positive",
              "objections": [], "lead": {"score": 250, "reasons": ["很想做"]}}
    upstream.script(Reply(text=json.dumps(answer, ensure_ascii=False)))
    body = await tenant_a.expect(200, "POST", f"/v1/threads/{thread['thread_id']}/profile")
    assert body["model"] == "qwen" and body["profile"]["lead"]["score"] == 100
    assert body["profile"]["journey_stage"] in ("first_contact", "consideration", "decision", "after_sales")
