"""A tenant's own compliance rules over HTTP (SQLite and PostgreSQL): versions, rollback and history, the author of
each version, what a client may not send, scopes, tenant isolation, and the rules reaching every check of the
tenant's text (``/v1/compliance/check``, a chat run's reply, social copy)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from agents.compliance import ComplianceAgent, ComplianceInput, ComplianceResult
from agents.compliance_brand import MAX_TERM_CHARS, MAX_TERMS
from api.scopes import TENANT_CHAT
from tests.api.test_runs import new_chat
from tests.client import ApiClient, assert_error
from tests.llm.fake_servers import UPSTREAM_CATALOG as CATALOG
from tests.llm.fake_servers import FakeOpenAIServer, Reply, route_to

URL = "/v1/compliance/rules"
COMPETITOR = "焕颜宝"  # a competitor's product the brand may not name
TRADE_NAME = "第一坊"  # the brand's own trade name, which the packs would take for "第一"
RULES = {"forbidden": [{"term": COMPETITOR, "category": "brand_rule", "message": "不提竞品名称"}], "allowed": [TRADE_NAME]}


def key_id(client: ApiClient) -> str:
    token = client.headers["Authorization"].removeprefix("Bearer ")
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


async def put(client: ApiClient, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return await client.expect(status, "PUT", URL, json=body)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def routed(tmp_path: Path, upstream: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAIServer:
    """The app's model route goes to the scripted upstream (name it before the app's fixtures)."""
    route_to(upstream, CATALOG, tmp_path, monkeypatch)
    return upstream


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[ComplianceInput]:
    """Every request the Compliance agent gets, in order."""
    seen: list[ComplianceInput] = []
    check = ComplianceAgent.check

    async def recorded(self: ComplianceAgent, request: ComplianceInput) -> ComplianceResult:
        seen.append(request)
        return await check(self, request)

    monkeypatch.setattr(ComplianceAgent, "check", recorded)
    return seen


async def test_a_tenant_without_rules_reads_version_0(tenant_a: ApiClient) -> None:
    body = await tenant_a.expect(200, "GET", URL)
    assert body == {"version": 0, "is_active": False, "forbidden": [], "allowed": [], "note": None, "created_by": None,
                    "created_at": None, "second_opinion": {"enabled": False, "mode": "flag", "daily_budget_usd": 1.0}}
    assert (await tenant_a.expect(200, "GET", f"{URL}/history")) == {"versions": []}
    assert_error(await tenant_a.get(f"{URL}/versions/1"), 404, "COMPLIANCE_RULES_VERSION_NOT_FOUND")


async def test_replacements_and_a_rollback_append_versions_each_naming_its_author(tenant_a: ApiClient) -> None:
    first = await put(tenant_a, {**RULES, "note": "上线", "base_version": 0})
    assert (first["version"], first["is_active"], first["note"]) == (1, True, "上线")
    assert first["forbidden"] == [{"term": COMPETITOR, "category": "brand_rule", "severity": "high", "replacement": None,
                                   "message": "不提竞品名称"}]
    assert first["allowed"] == [TRADE_NAME] and first["created_by"] == key_id(tenant_a) and first["created_at"]

    # Another admin key of the tenant: a full replacement, nothing of v1 merged in.
    other_admin = await tenant_a.as_key("tenant-a", ["tenant:admin"])
    opinion = {"enabled": True, "mode": "record", "daily_budget_usd": 2.5}
    second = await put(other_admin, {"forbidden": [{"term": "美白", "category": "medical_claims_cosmetics", "severity": "medium"}],
                                     "allowed": [], "second_opinion": opinion, "base_version": 1})
    assert second["version"] == 2 and second["allowed"] == [] and second["second_opinion"] == opinion
    assert second["created_by"] == key_id(other_admin) != first["created_by"] and second["note"] is None

    assert (await tenant_a.expect(200, "GET", URL)) == second
    assert (await tenant_a.expect(200, "GET", f"{URL}/versions/1")) == {**first, "is_active": False}

    back = await tenant_a.expect(201, "POST", f"{URL}/rollback", json={"version": 1})
    assert (back["version"], back["note"], back["created_by"]) == (3, "rollback to v1", key_id(tenant_a))
    assert (back["forbidden"], back["allowed"], back["second_opinion"]) == (first["forbidden"], first["allowed"], first["second_opinion"])
    history = (await tenant_a.expect(200, "GET", f"{URL}/history"))["versions"]
    assert [(v["version"], v["is_active"]) for v in history] == [(3, True), (2, False), (1, False)]
    assert [v["version"] for v in (await tenant_a.expect(200, "GET", f"{URL}/history", params={"limit": 2}))["versions"]] == [3, 2]

    stale = assert_error(await tenant_a.put(URL, json={**RULES, "base_version": 2}), 409, "COMPLIANCE_RULES_VERSION_CONFLICT")
    assert stale["details"] == {"base_version": 2, "latest_version": 3}
    assert (await tenant_a.expect(200, "GET", URL))["version"] == 3  # nothing was written
    assert_error(await tenant_a.post(f"{URL}/rollback", json={"version": 9}), 404, "COMPLIANCE_RULES_VERSION_NOT_FOUND")


def _terms(count: int) -> list[dict[str, Any]]:
    return [{"term": f"词{i}"} for i in range(count)]


@pytest.mark.parametrize("body,field", [
    ({"forbidden": _terms(MAX_TERMS + 1), "allowed": []}, ["body", "forbidden"]),
    ({"forbidden": [], "allowed": [f"词{i}" for i in range(MAX_TERMS + 1)]}, ["body", "allowed"]),
    ({"forbidden": [{"term": "长" * (MAX_TERM_CHARS + 1)}], "allowed": []}, ["body", "forbidden", "0", "term"]),
    ({"forbidden": [], "allowed": ["长" * (MAX_TERM_CHARS + 1)]}, ["body", "allowed", "0"]),
    ({"forbidden": [{"term": "  "}], "allowed": []}, ["body", "forbidden", "0", "term"]),
    ({"forbidden": [{"term": "x", "category": "Brand Rule"}], "allowed": []}, ["body", "forbidden", "0", "category"]),
    ({"forbidden": [{"term": "x", "severity": "fatal"}], "allowed": []}, ["body", "forbidden", "0", "severity"]),
    ({"forbidden": [{"term": "x", "colour": "red"}], "allowed": []}, ["body", "forbidden", "0", "colour"]),
    ({"forbidden": [], "allowed": [], "note": "注" * 501}, ["body", "note"]),
    ({"forbidden": [], "allowed": [], "base_version": 2**31}, ["body", "base_version"]),
    ({"forbidden": [], "allowed": [], "base_version": "1"}, ["body", "base_version"]),
    ({"forbidden": [], "allowed": [], "second_opinion": {"enabled": "yes"}}, ["body", "second_opinion", "enabled"]),
    ({"forbidden": [], "allowed": [], "second_opinion": {"daily_budget_usd": -1}}, ["body", "second_opinion", "daily_budget_usd"]),
    ({"allowed": []}, ["body", "forbidden"]),
])
async def test_malformed_rules_are_422(tenant_a: ApiClient, body: dict[str, Any], field: list[str]) -> None:
    error = assert_error(await tenant_a.put(URL, json=body), 422, "VALIDATION_ERROR")
    assert field in [f["loc"] for f in error["details"]["fields"]], error


@pytest.mark.parametrize("body,code,loc", [
    ({"forbidden": [{"term": "x", "category": "made_up"}], "allowed": []}, "unknown_category", ["forbidden", 0, "category"]),
    ({"forbidden": [{"term": COMPETITOR}, {"term": "y"}, {"term": COMPETITOR, "category": "comparison"}], "allowed": []},
     "duplicate_term", ["forbidden", 2, "term"]),
    ({"forbidden": [{"term": "ABC"}, {"term": "ａｂｃ"}], "allowed": []}, "duplicate_term", ["forbidden", 1, "term"]),
    # the same word to the matcher: spaced out, or in traditional characters
    ({"forbidden": [{"term": "美白"}, {"term": "美 白"}], "allowed": []}, "duplicate_term", ["forbidden", 1, "term"]),
    ({"forbidden": [{"term": "療效"}], "allowed": ["疗效"]}, "term_also_allowed", ["forbidden", 0, "term"]),
    ({"forbidden": [], "allowed": [TRADE_NAME, TRADE_NAME]}, "duplicate_term", ["allowed", 1]),
    ({"forbidden": [{"term": TRADE_NAME}], "allowed": [TRADE_NAME]}, "term_also_allowed", ["forbidden", 0, "term"]),
])
async def test_rules_that_break_a_rule_are_400_and_not_stored(tenant_a: ApiClient, body: dict[str, Any], code: str,
                                                              loc: list[Any]) -> None:
    error = assert_error(await tenant_a.put(URL, json=body), 400, "INVALID_COMPLIANCE_RULES")
    assert {"loc": loc, "code": code} in [{"loc": i["loc"], "code": i["code"]} for i in error["details"]["issues"]], error
    assert {"brand_rule", "absolute_terms", "comparison"} <= set(error["details"]["categories"])
    assert (await tenant_a.expect(200, "GET", URL))["version"] == 0


async def test_path_and_query_bounds_are_422(tenant_a: ApiClient) -> None:
    for url, params in ((f"{URL}/versions/0", {}), (f"{URL}/versions/{2**31}", {}), (f"{URL}/history", {"limit": 0}),
                        (f"{URL}/history", {"limit": 101})):
        assert_error(await tenant_a.get(url, params=params), 422, "VALIDATION_ERROR")
    assert_error(await tenant_a.post(f"{URL}/rollback", json={"version": 0}), 422, "VALIDATION_ERROR")


async def test_rules_need_tenant_admin(tenant_a: ApiClient) -> None:
    chat_only = await tenant_a.as_key("tenant-a", [TENANT_CHAT])
    assert_error(await chat_only.put(URL, json=RULES), 403, "INSUFFICIENT_SCOPES")
    assert_error(await chat_only.get(URL), 403, "INSUFFICIENT_SCOPES")
    assert_error(await chat_only.get(f"{URL}/history"), 403, "INSUFFICIENT_SCOPES")
    assert_error(await chat_only.post(f"{URL}/rollback", json={"version": 1}), 403, "INSUFFICIENT_SCOPES")
    assert (await tenant_a.expect(200, "GET", URL))["version"] == 0
    await chat_only.expect(200, "POST", "/v1/compliance/check", json={"text": "你好"})  # the check itself is tenant:chat


async def test_a_tenant_never_sees_nor_feels_another_tenants_rules(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    await put(tenant_a, RULES)
    await put(tenant_a, {**RULES, "note": "again"})
    assert (await tenant_b.expect(200, "GET", URL))["version"] == 0
    assert (await tenant_b.expect(200, "GET", f"{URL}/history"))["versions"] == []
    assert_error(await tenant_b.get(f"{URL}/versions/1"), 404, "COMPLIANCE_RULES_VERSION_NOT_FOUND")
    assert_error(await tenant_b.post(f"{URL}/rollback", json={"version": 1}), 404, "COMPLIANCE_RULES_VERSION_NOT_FOUND")
    theirs = await put(tenant_b, {"forbidden": [{"term": "乙方禁词"}], "allowed": [], "base_version": 0})
    assert theirs["version"] == 1
    assert (await tenant_a.expect(200, "GET", URL))["version"] == 2
    assert (await tenant_a.expect(200, "GET", URL))["forbidden"][0]["term"] == COMPETITOR

    text = f"很多顾客之前用过{COMPETITOR}，效果因人而异。"
    mine = await tenant_a.expect(200, "POST", "/v1/compliance/check", json={"text": text, "channel": "ad"})
    assert [v["category"] for v in mine["violations"]] == ["brand_rule"]
    span = mine["violations"][0]["span"]
    assert span["text"] == COMPETITOR and text[span["start"]:span["end"]] == COMPETITOR
    assert COMPETITOR not in (mine["rewritten"] or "")
    not_theirs = await tenant_b.expect(200, "POST", "/v1/compliance/check", json={"text": text, "channel": "ad"})
    assert not_theirs["verdict"] == "approved" and not_theirs["violations"] == []


async def test_the_check_carries_the_callers_active_rules(tenant_a: ApiClient, tenant_b: ApiClient,
                                                          checks: list[ComplianceInput]) -> None:
    await put(tenant_a, RULES)
    await tenant_a.expect(200, "POST", "/v1/compliance/check", json={"text": "你好", "channel": "ad"})
    await tenant_b.expect(200, "POST", "/v1/compliance/check", json={"text": "你好", "channel": "ad"})
    mine, theirs = checks[-2].brand, checks[-1].brand
    assert mine is not None and (mine.tenant_id, mine.version) == ("tenant-a", 1)
    assert [t.term for t in mine.forbidden] == [COMPETITOR] and mine.allowed == (TRADE_NAME,)
    assert theirs is not None and (theirs.tenant_id, theirs.version, theirs.forbidden) == ("tenant-b", 0, ())
    # A client cannot send rules of its own (or another tenant's) in the body: the stored ones are checked.
    refused = await tenant_a.post("/v1/compliance/check", json={"text": "你好", "brand": {"tenant_id": "tenant-b"}})
    assert_error(refused, 422, "VALIDATION_ERROR")


async def test_an_allowed_trade_name_is_not_flagged_by_the_packs(tenant_a: ApiClient) -> None:
    text = f"我们是{TRADE_NAME}医美。"
    before = await tenant_a.expect(200, "POST", "/v1/compliance/check", json={"text": text, "channel": "ad"})
    assert "absolute_terms" in {v["category"] for v in before["violations"]}
    await put(tenant_a, RULES)
    after = await tenant_a.expect(200, "POST", "/v1/compliance/check", json={"text": text, "channel": "ad"})
    assert after["verdict"] == "approved" and after["violations"] == []
    # The exception is the trade name, not the word inside it.
    ranked = await tenant_a.expect(200, "POST", "/v1/compliance/check", json={"text": "我们是全网第一。", "channel": "ad"})
    assert "absolute_terms" in {v["category"] for v in ranked["violations"]}


async def test_a_chat_reply_naming_a_forbidden_word_is_rewritten(routed: FakeOpenAIServer, tenant_a: ApiClient,
                                                                 checks: list[ComplianceInput]) -> None:
    chat = await new_chat(tenant_a)
    await put(tenant_a, RULES)
    routed.script(Reply(text=f"很多顾客之前用过{COMPETITOR}。水光针术后注意补水防晒，效果因人而异。"))
    result = await chat.wait("水光针怎么样？")
    assert COMPETITOR not in result["response"] and "补水防晒" in result["response"] and result["model"] == "qwen"
    output = result["agents"]["compliance"]["output"]["output"]
    assert output["verdict"] == "rewritten" and "brand_rule" in {v["category"] for v in output["violations"]}
    assert [m["content"] for m in (await tenant_a.expect(200, "GET", chat.url("messages")))["messages"]][0] == result["response"]
    # Input screening needs no brand rules; every output check carried the tenant's.
    inputs = [c for c in checks if c.direction == "input"]
    outputs = [c for c in checks if c.direction == "output"]
    assert inputs and all(c.brand is None for c in inputs)
    assert outputs and all(c.brand is not None and (c.brand.tenant_id, c.brand.version) == ("tenant-a", 1) for c in outputs)


async def test_social_copy_naming_a_forbidden_word_is_rewritten(routed: FakeOpenAIServer, tenant_a: ApiClient,
                                                                checks: list[ComplianceInput]) -> None:
    await put(tenant_a, RULES)
    routed.script(Reply(text=f"比起{COMPETITOR}，我们更关注你的肤质。做完记得补水防晒哦。"))
    body = await tenant_a.expect(200, "POST", "/v1/social-media/comment", json={
        "product_prompt": "光彩医美，主打水光针", "task": {"product_content": "第一次做水光针，记录一下恢复过程", "likes_num": 120}})
    assert body["message"] and COMPETITOR not in body["message"]
    outputs = [c for c in checks if c.direction == "output"]
    assert outputs and all(c.brand is not None and c.brand.version == 1 and c.channel == "social" for c in outputs)


# A text every rule approves, which promises a result in other words: what the second opinion is for.
APPROVED_AD = "姐妹们做完反馈都超级好。打完感觉人生都开挂了！周末可预约。"
QUOTE = "打完感觉人生都开挂了"


def _judgement(*findings: dict[str, str]) -> Reply:
    return Reply(text=json.dumps({"violations": list(findings)}, ensure_ascii=False))


async def test_the_second_opinion_flags_what_the_rules_missed_once_the_tenant_switches_it_on(
        routed: FakeOpenAIServer, tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    """Through the real router, the OpenAI SDK and a scripted upstream: off by default, then on for tenant A only;
    judgements cached per tenant and text; the model's spend counted against the tenant's budget."""
    routed.script(_judgement({"category": "efficacy_guarantee", "quote": QUOTE, "reason": "暗示必然的效果"}))
    body = {"text": APPROVED_AD, "channel": "ad"}
    off = await tenant_a.expect(200, "POST", "/v1/compliance/check", json=body)
    assert off["verdict"] == "approved" and off["second_opinion"] is None and routed.requests == []

    await put(tenant_a, {"forbidden": [], "allowed": [], "second_opinion": {"enabled": True, "daily_budget_usd": 1.0}})
    flagged = await tenant_a.expect(200, "POST", "/v1/compliance/check", json=body)
    assert flagged["verdict"] == "flagged" and [v["category"] for v in flagged["violations"]] == ["efficacy_guarantee"]
    span = flagged["violations"][0]["span"]
    assert APPROVED_AD[span["start"]:span["end"]] == QUOTE and flagged["rewritten"] == "姐妹们做完反馈都超级好。周末可预约。"
    opinion = flagged["second_opinion"]
    assert opinion["status"] == "reviewed" and not opinion["agrees"] and opinion["model"] == "qwen" and opinion["cost_usd"] > 0
    sent = routed.requests[0]
    assert sent["response_format"]["type"] == "json_schema" and APPROVED_AD in json.dumps(sent, ensure_ascii=False)

    again = await tenant_a.expect(200, "POST", "/v1/compliance/check", json=body)
    assert again["second_opinion"]["cached"] and again["verdict"] == "flagged" and len(routed.requests) == 1
    chat = await tenant_a.expect(200, "POST", "/v1/compliance/check", json={**body, "channel": "chat"})
    assert chat["second_opinion"] is None and len(routed.requests) == 1  # chat replies are the rules' alone
    theirs = await tenant_b.expect(200, "POST", "/v1/compliance/check", json=body)
    assert theirs["verdict"] == "approved" and theirs["second_opinion"] is None and len(routed.requests) == 1


async def test_over_its_budget_a_tenant_gets_the_rules_verdict_and_the_reason(
        routed: FakeOpenAIServer, tenant_a: ApiClient) -> None:
    routed.script(_judgement())
    await put(tenant_a, {"forbidden": [], "allowed": [], "second_opinion": {"enabled": True, "daily_budget_usd": 0.000001}})
    first = await tenant_a.expect(200, "POST", "/v1/compliance/check", json={"text": APPROVED_AD, "channel": "social"})
    assert first["verdict"] == "approved" and first["second_opinion"]["status"] == "reviewed" and first["second_opinion"]["agrees"]
    over = await tenant_a.expect(200, "POST", "/v1/compliance/check", json={"text": APPROVED_AD + "欢迎咨询。", "channel": "social"})
    assert over["verdict"] == "approved" and over["second_opinion"]["status"] == "over_budget" and len(routed.requests) == 1
