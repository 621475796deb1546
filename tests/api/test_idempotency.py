"""Idempotency keys on runs (SQLite and PostgreSQL): a client that resends a turn after losing its answer gets the
run it first started, never a second turn; a run whose replica died is run again under the key."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from store.runs import RUN_ABANDONED
from tests.api.test_runs import Chat, eventually, new_chat
from tests.client import ApiClient, assert_error


@pytest.fixture
async def chat(tenant_a: ApiClient) -> Chat:
    return await new_chat(tenant_a)


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def messages(chat: Chat) -> list[dict[str, Any]]:
    return (await chat.client.expect(200, "GET", chat.url("messages"), params={"limit": 50}))["messages"]


async def test_a_resent_wait_gets_the_same_run_and_the_turn_is_stored_once(chat: Chat) -> None:
    first = await chat.client.expect(200, "POST", chat.url("runs/wait"), json=chat.body("想做水光针"), headers=keyed("k-1"))
    again = await chat.client.expect(200, "POST", chat.url("runs/wait"), json=chat.body("想做水光针"), headers=keyed("k-1"))
    assert again == first
    assert [m["role"] for m in await messages(chat)] == ["assistant", "user"]
    other = await chat.client.expect(200, "POST", chat.url("runs/wait"), json=chat.body("想做水光针"), headers=keyed("k-2"))
    assert other["run_id"] != first["run_id"] and len(await messages(chat)) == 4  # a new key is a new turn


async def test_concurrent_resends_share_one_run_instead_of_409(chat: Chat) -> None:
    sends = [chat.client.post(chat.url("runs/wait"), json=chat.body("价格多少"), headers=keyed("burst")) for _ in range(4)]
    responses = await asyncio.gather(*sends)
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    assert len({r.json()["run_id"] for r in responses}) == 1
    assert len(await messages(chat)) == 2


async def test_a_key_sent_with_another_request_is_409(chat: Chat, tenant_a: ApiClient) -> None:
    await chat.client.expect(200, "POST", chat.url("runs/wait"), json=chat.body("你好"), headers=keyed("once"))
    changed = await chat.client.post(chat.url("runs/wait"), json=chat.body("你好呀"), headers=keyed("once"))
    assert_error(changed, 409, "IDEMPOTENCY_KEY_REUSED")
    elsewhere = await new_chat(tenant_a)
    moved = await elsewhere.client.post(elsewhere.url("runs/wait"), json=elsewhere.body("你好"), headers=keyed("once"))
    assert_error(moved, 409, "IDEMPOTENCY_KEY_REUSED")
    as_async = await chat.client.post(chat.url("runs/async"), json=chat.body("你好"), headers=keyed("once"))
    assert_error(as_async, 409, "IDEMPOTENCY_KEY_REUSED")
    assert len(await messages(chat)) == 2 and await messages(elsewhere) == []


async def test_keys_are_per_tenant(chat: Chat, tenant_b: ApiClient) -> None:
    ours = await chat.client.expect(200, "POST", chat.url("runs/wait"), json=chat.body("你好"), headers=keyed("shared"))
    theirs_chat = await new_chat(tenant_b)
    theirs = await tenant_b.expect(200, "POST", theirs_chat.url("runs/wait"), json=theirs_chat.body("你好"),
                                   headers=keyed("shared"))
    assert theirs["run_id"] != ours["run_id"] and theirs["thread_id"] == theirs_chat.thread_id


async def test_a_resend_after_the_replica_died_runs_the_turn_again_once(chat: Chat) -> None:
    """The state a SIGKILLed Ingress leaves: a running run that holds the key and a lease nobody renews."""
    runs = chat.client.services.runs
    body = chat.body("我皮肤干，想补水")
    assert await runs.acquire_thread("tenant-a", chat.thread_id, "run-of-a-dead-replica", lease_seconds=0.5)
    await runs.create("tenant-a", chat.thread_id, run_id="run-of-a-dead-replica", mode="wait", status="running",
                      webhook_url=None, idempotency_key="lost", assistant_id=chat.assistant_id, input=body["input"],
                      metadata={}, requested_model=None)
    result = await chat.client.expect(200, "POST", chat.url("runs/wait"), json=body, headers=keyed("lost"))
    assert result["run_id"] != "run-of-a-dead-replica" and result["status"] == "completed"
    dead = await chat.client.expect(200, "GET", chat.url("runs/run-of-a-dead-replica/status"))
    assert dead["status"] == "failed" and dead["error"]["code"] == RUN_ABANDONED
    assert [m["content"] for m in await messages(chat)][1] == "我皮肤干，想补水" and len(await messages(chat)) == 2
    again = await chat.client.expect(200, "POST", chat.url("runs/wait"), json=body, headers=keyed("lost"))
    assert again == result  # the key now names the run that completed


async def test_a_failed_run_gives_its_key_to_the_next_try(chat: Chat) -> None:
    body = chat.body("你好", model="no-such-model")
    for _ in range(2):  # each try runs (and fails) again instead of replaying a stored failure
        assert_error(await chat.client.post(chat.url("runs/wait"), json=body, headers=keyed("f")), 404, "UNKNOWN_MODEL")
    assert await messages(chat) == []
    assert (await chat.client.services.runs.by_key("tenant-a", "f")).status == "failed"


async def test_a_resent_async_run_is_queued_once(chat: Chat) -> None:
    first = await chat.client.expect(202, "POST", chat.url("runs/async"), json=chat.body("热玛吉"), headers=keyed("a-1"))
    again = await chat.client.expect(202, "POST", chat.url("runs/async"), json=chat.body("热玛吉"), headers=keyed("a-1"))
    assert again["run_id"] == first["run_id"]

    async def finished() -> dict[str, Any] | None:
        status = await chat.client.expect(200, "GET", chat.url(f"runs/{first['run_id']}/status"))
        return status if status["status"] in ("completed", "failed") else None

    assert (await eventually(finished))["status"] == "completed"
    later = await chat.client.expect(202, "POST", chat.url("runs/async"), json=chat.body("热玛吉"), headers=keyed("a-1"))
    assert later == {**first, "status": "completed"} and len(await messages(chat)) == 2


@pytest.mark.parametrize("key", [b"", b"x" * 256, "含中文".encode(), b"a b"])
async def test_malformed_keys_are_422(chat: Chat, key: bytes) -> None:
    response = await chat.client.post(chat.url("runs/wait"), json=chat.body("你好"), headers={"Idempotency-Key": key})
    assert_error(response, 422, "VALIDATION_ERROR")
    assert await messages(chat) == []
