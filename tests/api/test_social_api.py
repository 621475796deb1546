"""The social-media, marketing and customer-analysis endpoints over HTTP (in-process app, no model configured, SQLite
and PostgreSQL): what each answers, the client mistakes that get a 4xx, tenant isolation, and the templates' reload."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from agents.compliance import ComplianceAgent
from runtime.settings import Settings
from tests.api.test_products import CATALOG
from tests.api.test_runs import new_chat
from tests.client import ApiClient, assert_error
from tests.config_paths import CONFIG_DIR

COMPLIANCE = ComplianceAgent.load(CONFIG_DIR / "compliance")
POST = {"product_content": "第一次做水光针，记录一下恢复过程，补水效果不错", "likes_num": 120, "replies_num": 8}
SOURCE = "最近做了一次水光针，整体感觉还不错。面诊的时候医生讲得很细，术后按照要求补水防晒，一周左右基本恢复。"


@pytest.fixture
def settings(tmp_path: Path, empty_database: str) -> Settings:
    """A config dir of its own, so a test may edit the social templates and reload them."""
    config = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, config)
    return Settings(data_dir=tmp_path / "data", database_url=empty_database, jwt_secret="test-secret-" + "x" * 52, config_dir=config)


def published(text: str) -> bool:
    return bool(text.strip()) and COMPLIANCE.approves(text, "social")


async def test_a_post_about_the_brands_catalog_gets_actions_and_a_checked_comment(tenant_a: ApiClient) -> None:
    await tenant_a.expect(200, "POST", "/v1/products/import", json=CATALOG)
    body = await tenant_a.expect(200, "POST", "/v1/social-media/comment", json={"platform": "douyin", "task": POST})
    assert {2, 3} <= set(body["actions"]) and published(body["message"]) and len(body["message"]) <= 60
    assert (body["model"], body["cost_usd"]) == ("offline", 0) and body["input_tokens"] > 0  # the prompt, estimated
    assert body["reasons"] and "水光针" in body["signals"]["matched_terms"]


async def test_the_catalog_that_makes_a_post_relevant_is_the_callers_own(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    await tenant_a.expect(200, "POST", "/v1/products/import", json=CATALOG)
    mine = await tenant_a.expect(200, "POST", "/v1/social-media/comment", json={"task": POST})
    theirs = await tenant_b.expect(200, "POST", "/v1/social-media/comment", json={"task": POST})
    assert 3 in mine["actions"] and theirs["actions"] == [] and theirs["message"] is None


async def test_replies_answer_each_comment_in_order(tenant_a: ApiClient) -> None:
    tasks = [{"id": "c2", "reply_content": "水光针多少钱？"}, {"id": "c1", "reply_content": "好喜欢这篇"}]
    body = await tenant_a.expect(200, "POST", "/v1/social-media/reply", json={"product_prompt": "主打水光针", "task_list": tasks})
    assert [task["id"] for task in body["tasks"]] == ["c2", "c1"]
    assert all(published(task["message"]) for task in body["tasks"])


async def test_keywords_chat_beautify_and_plans_answer_their_contracts(tenant_a: ApiClient) -> None:
    keywords = await tenant_a.expect(200, "POST", "/v1/social-media/keywords", json={
        "product_prompt": "主打水光针、热玛吉", "existing_keywords": ["水光针"], "expecting_count": 6})
    assert keywords["count"] == len(set(keywords["keywords"])) == 6 and "水光针" not in keywords["keywords"]
    chat = await tenant_a.expect(200, "POST", "/v1/social-media/chat", json={"content": "热玛吉疼吗？"})
    assert published(chat["message"]) and chat["model"] == "offline"
    fixed = await tenant_a.expect(200, "POST", "/v1/social-media/chat", json={
        "content": "在吗", "comment_type": 1, "chat_prompt": "您好，顾问稍后在平台内回复您～"})
    assert fixed["message"] == "您好，顾问稍后在平台内回复您～"
    shorter = await tenant_a.expect(200, "POST", "/v1/social-media/beautify", json={"action_type": 1, "source_text": SOURCE, "result_count": 4})
    longer = await tenant_a.expect(200, "POST", "/v1/social-media/beautify", json={"action_type": 2, "source_text": SOURCE})
    assert len(set(shorter["response"])) == 4 and all(len(text) < len(SOURCE) for text in shorter["response"])
    assert len(set(longer["response"])) == 3 and all(len(text) > len(SOURCE) for text in longer["response"])
    plan = await tenant_a.expect(200, "POST", "/v1/marketing/plans", json={"request_id": "req-7", "content": "双十一推水光针"})
    assert plan["request_id"] == "req-7" and len({option["content"] for option in plan["options"]}) == 3
    assert plan["processing_time"] >= 0 and "input_tokens" in plan


async def test_moments_are_personalised_from_the_callers_thread_only(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    thread = await tenant_a.expect(201, "POST", "/v1/threads", json={"nickname": "Lily"})
    await tenant_a.expect(200, "POST", "/v1/memory/insert", json={
        "thread_id": thread["thread_id"], "memories": ["做过：水光针"], "tags": ["treatment"]})
    tasks = [{"id": "m1", "thread_id": thread["thread_id"], "moment_content": "周末去看海"}, {"id": "m2", "moment_content": "加班中"}]
    body = await tenant_a.expect(200, "POST", "/v1/social-media/moments", json={"task_list": tasks})
    assert [task["id"] for task in body["tasks"]] == ["m1", "m2"] and all(published(task["message"]) for task in body["tasks"])
    assert_error(await tenant_b.post("/v1/social-media/moments", json={"task_list": tasks}), 404, "THREAD_NOT_FOUND")


async def test_a_customer_is_analysed_from_the_conversation(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    chat = await new_chat(tenant_a)
    await chat.wait("你好，我是油皮，对酒精过敏")
    await chat.wait("想做水光针，预算5000左右，明天下午三点可以过来吗")
    profile = await tenant_a.expect(200, "POST", chat.url("profile"))
    insight = profile["profile"]
    assert any("酒精" in allergy for allergy in insight["allergies"]) and insight["budget"]["max_cny"] >= 5000
    assert insight["journey_stage"] == "decision" and 0 <= insight["lead"]["score"] <= 100 and insight["lead"]["reasons"]
    labels = await tenant_a.expect(200, "POST", chat.url("label"))
    assert 3 <= len(labels["labels"]) <= 5 and len(set(labels["labels"])) == len(labels["labels"])
    report = await tenant_a.expect(200, "POST", chat.url("report"))
    assert all(section in report["report"] for section in ("## 需求", "## 预算", "## 下一步")) and report["model"] == "offline"
    for what in ("profile", "label", "report"):
        assert_error(await tenant_b.post(chat.url(what)), 404, "THREAD_NOT_FOUND")


@pytest.mark.parametrize(("url", "body", "field"), [
    ("comment", {"task": {**POST, "likes_num": -1}}, "likes_num"),
    ("comment", {"task": POST, "platform": "weibo"}, "platform"),
    ("comment", {"task": POST, "policy": {"comment": [{"action": 9}]}}, "action"),
    ("reply", {"task_list": []}, "task_list"),
    ("keywords", {"product_prompt": "水光针", "expecting_count": 21}, "expecting_count"),
    ("keywords", {"product_prompt": "水光针", "expecting_count": True}, "expecting_count"),
    ("beautify", {"action_type": 3, "source_text": SOURCE}, "action_type"),
    ("beautify", {"action_type": 1, "source_text": SOURCE, "result_count": 11}, "result_count"),
    ("beautify", {"action_type": 1, "source_text": "x" * 5001}, "source_text"),
    ("moments", {"task_list": [{"id": "m", "url_list": ["ftp://x"]}]}, "url_list"),
    ("chat", {"content": ""}, "content"),
    ("reload-prompt", {"method": "everything"}, "method"),
])
async def test_bad_bodies_get_422_naming_the_field(tenant_a: ApiClient, url: str, body: dict[str, Any], field: str) -> None:
    error = assert_error(await tenant_a.post(f"/v1/social-media/{url}", json=body), 422, "VALIDATION_ERROR")
    assert any(field in location for problem in error["details"]["fields"] for location in problem["loc"]), error


async def test_requests_the_agent_cannot_serve_get_400(tenant_a: ApiClient) -> None:
    assert_error(await tenant_a.post("/v1/social-media/beautify", json={"action_type": 1, "source_text": "补水很重要"}),
                 400, "SOURCE_TOO_SHORT")
    assert_error(await tenant_a.post("/v1/social-media/chat", json={
        "content": "在吗", "comment_type": 1, "chat_prompt": "加我微信vx12345"}), 400, "FIXED_TEXT_NOT_COMPLIANT")
    assert_error(await tenant_a.post("/v1/social-media/comment", json={"comment_type": 1, "task": POST}), 400, "FIXED_TEXT_REQUIRED")
    repeated = [{"id": "a", "reply_content": "hi"}, {"id": "a", "reply_content": "yo"}]
    assert_error(await tenant_a.post("/v1/social-media/reply", json={"task_list": repeated}), 400, "DUPLICATE_TASK_ID")
    assert_error(await tenant_a.post("/v1/social-media/moments", json={"task_list": [{"id": "m"}]}), 400, "EMPTY_MOMENT")


async def test_social_media_needs_the_chat_scope(admin: ApiClient, api: ApiClient) -> None:
    admin_only = await (await admin.with_tenant("tenant-s", scopes=("tenant:admin",))).post("/v1/social-media/comment", json={"task": POST})
    assert admin_only.status_code == 403
    assert (await api.post("/v1/marketing/plans", json={"content": "x"})).status_code == 401


async def test_reload_prompt_takes_edited_templates_and_refuses_broken_ones(tenant_a: ApiClient, settings: Settings) -> None:
    templates = settings.config_dir / "social" / "templates.yaml"
    before = await tenant_a.expect(200, "POST", "/v1/social-media/chat", json={"content": "水光针多少钱？"})
    templates.write_text(templates.read_text(encoding="utf-8").replace("您好，感谢您的咨询！", "亲爱的顾客您好！"), encoding="utf-8")
    assert (await tenant_a.expect(200, "POST", "/v1/social-media/chat", json={"content": "水光针多少钱？"}))["message"] == before["message"]
    reloaded = await tenant_a.expect(200, "POST", "/v1/social-media/reload-prompt", json={"method": "chat"})
    assert reloaded["method"] == "chat" and reloaded["version"]
    after = await tenant_a.expect(200, "POST", "/v1/social-media/chat", json={"content": "水光针多少钱？"})
    assert after["message"].startswith("亲爱的顾客您好")
    templates.write_text("offline: {", encoding="utf-8")
    assert_error(await tenant_a.post("/v1/social-media/reload-prompt", json={"method": "all"}), 400, "TEMPLATES_INVALID")
    assert (await tenant_a.expect(200, "POST", "/v1/social-media/chat", json={"content": "水光针多少钱？"}))["message"] == after["message"]


async def test_the_action_policy_can_be_read_and_tuned_per_request(tenant_a: ApiClient) -> None:
    policy = await tenant_a.expect(200, "GET", "/v1/social-media/policy")
    assert {rule["action"] for rule in policy["comment"]} == {1, 2, 3, 4, 5, 6}
    unrelated = {"task": {"product_content": "今天去爬山了"}}
    assert (await tenant_a.expect(200, "POST", "/v1/social-media/comment", json=unrelated))["actions"] == []
    eager = await tenant_a.expect(200, "POST", "/v1/social-media/comment", json={**unrelated, "policy": {"comment": [{"action": 2}]}})
    assert eager["actions"] == [2] and eager["message"] is None
