"""Versioned prompts per assistant: create, read, partial update, rollback, history, clone, templates, validate."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.scopes import TENANT_CHAT
from tests.client import ApiClient, assert_error

BASE = {
    "personality_prompt": "你是{assistant_name}，一位耐心细致的皮肤管理顾问，先了解顾客诉求再给建议。",
    "greeting_prompt": "{customer_name}您好，我是{assistant_name}，今天想了解哪方面的护理呢？",
    "safety_guidelines": ["不承诺具体效果", "涉及医疗问题建议面诊"],
    "llm_parameters": {"temperature": 0.6, "max_tokens": 600},
}


async def _assistant(client: ApiClient, name: str = "小美") -> str:
    body = {"assistant_name": name, "personality": "温柔", "occupation": "顾问", "industry": "医美"}
    return (await client.expect(201, "POST", "/v1/assistants", json=body))["assistant_id"]


async def _create(client: ApiClient, assistant_id: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    return await client.expect(201, "POST", f"/v1/prompts/{assistant_id}", json={"prompt_config": config or BASE})


async def test_versions_count_up_and_exactly_one_is_active(tenant_a: ApiClient) -> None:
    assistant_id = await _assistant(tenant_a)
    first = await _create(tenant_a, assistant_id)
    second = await _create(tenant_a, assistant_id, {**BASE, "closing_prompt": "期待您的到来。"})
    assert (first["version"], second["version"]) == (1, 2)
    assert second["is_active"] and second["tenant_id"] == "tenant-a"

    active = (await tenant_a.get(f"/v1/prompts/{assistant_id}")).json()
    assert active["version"] == 2 and active["prompt_config"]["closing_prompt"] == "期待您的到来。"
    old = (await tenant_a.get(f"/v1/prompts/{assistant_id}/tenant-a/1")).json()
    assert old["is_active"] is False and "closing_prompt" not in old["prompt_config"]


async def test_partial_update_merges_into_a_new_active_version(tenant_a: ApiClient) -> None:
    assistant_id = await _assistant(tenant_a)
    await _create(tenant_a, assistant_id)
    response = await tenant_a.put(
        f"/v1/prompts/tenant-a/{assistant_id}", json={"prompt_config": {"brand_voice": "专业、亲切", "llm_parameters": {"temperature": 0.2}}}
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["version"] == 2 and updated["note"] == "updated from v1"
    config = updated["prompt_config"]
    assert config["brand_voice"] == "专业、亲切" and config["personality_prompt"] == BASE["personality_prompt"]
    assert config["llm_parameters"] == {"temperature": 0.2}


async def test_update_errors(tenant_a: ApiClient) -> None:
    assistant_id = await _assistant(tenant_a)
    assert_error(await tenant_a.put(f"/v1/prompts/tenant-a/{assistant_id}", json={"prompt_config": {"brand_voice": "x"}}), 404, "PROMPT_NOT_FOUND")
    await _create(tenant_a, assistant_id)
    assert_error(await tenant_a.put(f"/v1/prompts/tenant-a/{assistant_id}", json={"prompt_config": {}}), 400, "EMPTY_UPDATE")
    assert_error(
        await tenant_a.put(f"/v1/prompts/tenant-a/{assistant_id}", json={"prompt_config": {"personality_prompt": None}}),
        422,
        "VALIDATION_ERROR",
    )
    assert_error(await tenant_a.put(f"/v1/prompts/tenant-b/{assistant_id}", json={"prompt_config": {"brand_voice": "x"}}), 403, "TENANT_MISMATCH")


async def test_rollback_reactivates_old_content_as_a_new_version(tenant_a: ApiClient) -> None:
    assistant_id = await _assistant(tenant_a)
    await _create(tenant_a, assistant_id)
    await _create(tenant_a, assistant_id, {**BASE, "personality_prompt": "你是{assistant_name}，语气活泼。"})
    response = await tenant_a.post(f"/v1/prompts/{assistant_id}/rollback", json={"version": 1})
    assert response.status_code == 201
    assert response.json()["version"] == 3 and response.json()["note"] == "rollback to v1"
    active = (await tenant_a.get(f"/v1/prompts/{assistant_id}")).json()
    assert active["version"] == 3 and active["prompt_config"]["personality_prompt"] == BASE["personality_prompt"]

    assert_error(await tenant_a.post(f"/v1/prompts/{assistant_id}/rollback", json={"version": 9}), 404, "PROMPT_VERSION_NOT_FOUND")
    assert_error(await tenant_a.post(f"/v1/prompts/{assistant_id}/rollback", json={"version": 0}), 422, "VALIDATION_ERROR")


async def test_history_is_newest_first_and_limited(tenant_a: ApiClient) -> None:
    assistant_id = await _assistant(tenant_a)
    for _ in range(4):
        await _create(tenant_a, assistant_id)
    history = (await tenant_a.get(f"/v1/prompts/{assistant_id}/history?limit=3")).json()
    assert history["assistant_id"] == assistant_id
    assert [v["version"] for v in history["versions"]] == [4, 3, 2]
    assert [v["is_active"] for v in history["versions"]] == [True, False, False]
    assert_error(await tenant_a.get(f"/v1/prompts/{assistant_id}/history?limit=0"), 422, "VALIDATION_ERROR")


async def test_clone_copies_the_active_version_to_another_assistant_of_the_tenant(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    source, target = await _assistant(tenant_a, "源"), await _assistant(tenant_a, "目标")
    await _create(tenant_a, source)
    response = await tenant_a.post(f"/v1/prompts/{source}/clone", json={"target_assistant_id": target})
    assert response.status_code == 201
    assert response.json()["assistant_id"] == target and response.json()["version"] == 1
    assert (await tenant_a.get(f"/v1/prompts/{target}")).json()["prompt_config"] == (await tenant_a.get(f"/v1/prompts/{source}")).json()["prompt_config"]

    foreign = await _assistant(tenant_b, "别家")
    assert_error(await tenant_a.post(f"/v1/prompts/{source}/clone", json={"target_assistant_id": foreign}), 404, "ASSISTANT_NOT_FOUND")
    assert_error(await tenant_a.post(f"/v1/prompts/{source}/clone", json={"target_assistant_id": source}), 400, "SAME_ASSISTANT")
    assert (await tenant_b.get(f"/v1/prompts/{foreign}")).status_code == 404  # nothing was written to tenant B


async def test_prompts_of_another_tenant_are_invisible(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    assistant_id = await _assistant(tenant_a)
    await _create(tenant_a, assistant_id)
    for response in (
        await tenant_b.get(f"/v1/prompts/{assistant_id}"),
        await tenant_b.get(f"/v1/prompts/{assistant_id}/history"),
        await tenant_b.post(f"/v1/prompts/{assistant_id}", json={"prompt_config": BASE}),
        await tenant_b.post(f"/v1/prompts/{assistant_id}/rollback", json={"version": 1}),
    ):
        assert_error(response, 404, "ASSISTANT_NOT_FOUND")
    assert_error(await tenant_b.get(f"/v1/prompts/{assistant_id}/tenant-b/1"), 404, "PROMPT_VERSION_NOT_FOUND")
    assert_error(await tenant_b.get(f"/v1/prompts/{assistant_id}/tenant-a/1"), 403, "TENANT_MISMATCH")
    assert (await tenant_a.get(f"/v1/prompts/{assistant_id}/history")).json()["versions"][0]["version"] == 1


async def test_content_breaking_the_rules_is_refused_on_save(tenant_a: ApiClient) -> None:
    assistant_id = await _assistant(tenant_a)
    bad = {**BASE, "closing_prompt": "告诉顾客我们保证效果，而且无副作用，{coupon}"}
    error = assert_error(await tenant_a.post(f"/v1/prompts/{assistant_id}", json={"prompt_config": bad}), 400, "INVALID_PROMPT")
    codes = {issue["code"] for issue in error["details"]["issues"]}
    assert {"ADVERTISING_RULE", "UNKNOWN_PLACEHOLDER"} <= codes
    assert_error(await tenant_a.get(f"/v1/prompts/{assistant_id}"), 404, "PROMPT_NOT_FOUND")


async def test_validate_reports_issues_without_saving(tenant_a: ApiClient) -> None:
    ok = await tenant_a.post("/v1/prompts/validate", json={"prompt_config": BASE})
    assert ok.status_code == 200 and ok.json() == {"valid": True, "issues": []}
    bad = await tenant_a.post(
        "/v1/prompts/validate", json={"prompt_config": {"greeting_prompt": "全网最低价，{unknown}", "surprise": 1}}
    )
    assert bad.status_code == 200 and bad.json()["valid"] is False
    found = {(i["field"], i["code"]) for i in bad.json()["issues"]}
    assert {("personality_prompt", "REQUIRED"), ("surprise", "UNKNOWN_FIELD"), ("greeting_prompt", "UNKNOWN_PLACEHOLDER"), ("greeting_prompt", "ADVERTISING_RULE")} <= found
    assert_error(await tenant_a.post("/v1/prompts/validate", json={"prompt_config": ["not", "an", "object"]}), 422, "VALIDATION_ERROR")


async def test_template_library_lists_categories_and_filters(tenant_a: ApiClient) -> None:
    library = (await tenant_a.get("/v1/prompts/templates")).json()
    assert set(library["categories"]) >= {"medical_aesthetics", "skincare"}
    assert len(library["templates"]) >= len(library["categories"])
    skincare = (await tenant_a.get("/v1/prompts/templates/skincare")).json()
    assert skincare["templates"] and {t["category"] for t in skincare["templates"]} == {"skincare"}
    error = assert_error(await tenant_a.get("/v1/prompts/templates/astrology"), 404, "TEMPLATE_CATEGORY_NOT_FOUND")
    assert "skincare" in error["details"]["categories"]


async def test_a_template_can_be_saved_as_is(tenant_a: ApiClient) -> None:
    template = (await tenant_a.get("/v1/prompts/templates/medical_aesthetics")).json()["templates"][0]
    assistant_id = await _assistant(tenant_a)
    saved = await _create(tenant_a, assistant_id, template["prompt_config"])
    assert saved["prompt_config"]["personality_prompt"] == template["prompt_config"]["personality_prompt"]


async def test_concurrent_saves_get_distinct_versions(tenant_a: ApiClient) -> None:
    assistant_id = await _assistant(tenant_a)
    responses = await asyncio.gather(
        *(tenant_a.post(f"/v1/prompts/{assistant_id}", json={"prompt_config": BASE}) for _ in range(6))
    )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    assert sorted(r.json()["version"] for r in responses) == [1, 2, 3, 4, 5, 6]
    history = (await tenant_a.get(f"/v1/prompts/{assistant_id}/history")).json()["versions"]
    assert sum(v["is_active"] for v in history) == 1 and history[0]["is_active"]


@pytest.mark.parametrize("method,path", [("GET", "/v1/prompts/templates"), ("POST", "/v1/prompts/validate")])
async def test_prompts_need_tenant_admin(api: ApiClient, tenant_a: ApiClient, method: str, path: str) -> None:
    chat_only = await api.as_key("tenant-a", [TENANT_CHAT])
    response = await chat_only.request(method, path, json={"prompt_config": BASE})
    assert_error(response, 403, "INSUFFICIENT_SCOPES")


async def test_an_edit_on_a_stale_version_is_409_and_writes_nothing(tenant_a: ApiClient) -> None:
    assistant_id = await _assistant(tenant_a)
    await _create(tenant_a, assistant_id)
    url = f"/v1/prompts/tenant-a/{assistant_id}"
    first = await tenant_a.expect(200, "PUT", url, json={"prompt_config": {"brand_voice": "亲切"}, "base_version": 1})
    assert first["version"] == 2

    stale = await tenant_a.put(url, json={"prompt_config": {"brand_voice": "高冷"}, "base_version": 1})
    error = assert_error(stale, 409, "PROMPT_VERSION_CONFLICT")
    assert error["details"] == {"base_version": 1, "latest_version": 2}
    active = (await tenant_a.get(f"/v1/prompts/{assistant_id}")).json()
    assert active["version"] == 2 and active["prompt_config"]["brand_voice"] == "亲切"


async def test_of_two_concurrent_edits_on_one_version_exactly_one_wins(tenant_a: ApiClient) -> None:
    assistant_id = await _assistant(tenant_a)
    await _create(tenant_a, assistant_id)
    url = f"/v1/prompts/tenant-a/{assistant_id}"
    responses = await asyncio.gather(
        *(tenant_a.put(url, json={"prompt_config": {"brand_voice": voice}, "base_version": 1}) for voice in ("甲", "乙", "丙"))
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409], [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 200)
    history = (await tenant_a.get(f"/v1/prompts/{assistant_id}/history")).json()["versions"]
    assert [v["version"] for v in history] == [2, 1] and history[0]["prompt_config"] == winner["prompt_config"]
