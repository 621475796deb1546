"""A customer's personal data over HTTP (SQLite and PostgreSQL; the window in the transcript or Redis; FTS5 and Milvus
Lite): erasure from every store, then a search of every store for the customer's phone, name and memories; erasure
resumed after a crash half-way; export; retention; tenants apart."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from redis import Redis
from sqlalchemy import update

from api.schemas.privacy import ThreadExport
from memory.types import MemoryRecord
from runtime.settings import Settings
from store.models import Base, ErasedThread, Erasure, Message, Run, utcnow
from telemetry.metrics import PERSONAL_DATA_REMOVED
from tests.api.test_runs import Chat, new_chat
from tests.client import ApiClient, assert_error
from tests.telemetry.recording import recording

PHONE, NAME, ALLERGY = "13812345678", "林小美", "对青霉素过敏"


def said(name: str, phone: str) -> str:
    return f"我叫{name}，电话{phone}，{ALLERGY}，想了解水光针"


@pytest.fixture(params=["transcript", "redis"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, empty_database: str) -> Settings:
    """The conversation window and run events in the relational store (embedded), or in Redis (emptied first: the
    test searches all of it)."""
    redis_url = None
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_url")
        with Redis.from_url(redis_url) as client:
            client.flushdb()
    return Settings(data_dir=tmp_path / "data", database_url=empty_database, jwt_secret="test-secret-" + "x" * 52,
                    redis_url=redis_url)


async def _customer(client: ApiClient, name: str = NAME, phone: str = PHONE, external: str = "crm-42") -> Chat:
    """A thread with the customer's profile, one turn that told the assistant about them, and a memory of it."""
    chat = await new_chat(client)
    await client.expect(200, "POST", f"/v1/threads/{chat.thread_id}/info",
                        json={"real_name": name, "phone": phone, "external_user_id": external})
    await chat.wait(said(name, phone))
    await client.expect(200, "POST", "/v1/memory/insert", json={"thread_id": chat.thread_id, "memories": [f"{name}{ALLERGY}"]})
    await client.services.executor.drain()  # the turn's memory write runs in the background
    return chat


async def _relational_text(client: ApiClient, tenant_id: str) -> str:
    """Every row of the tenant in every table, as text."""
    async with client.services.engine.connect() as connection:
        rows = [row for table in Base.metadata.sorted_tables if "tenant_id" in table.c
                for row in await connection.execute(table.select().where(table.c.tenant_id == tenant_id))]
    return json.dumps([[str(value) for value in row] for row in rows], ensure_ascii=False)


def _fts_text(settings: Settings, tenant_id: str) -> str:
    with sqlite3.connect(settings.fts_path("memory")) as connection:
        rows = connection.execute("SELECT * FROM memories WHERE tenant_id = ?", (tenant_id,)).fetchall()
        return json.dumps(rows, ensure_ascii=False)


async def _redis_text(settings: Settings, tenant_id: str) -> str:
    if not settings.redis_url:
        return ""
    client = redis.from_url(settings.redis_url)
    try:
        found = []
        async for key in client.scan_iter(f"mas:{tenant_id}:*"):
            kind = await client.type(key)
            found.append(key.decode() + str(await client.lrange(key, 0, -1) if kind == b"list" else await client.get(key)))
        return json.dumps(found, ensure_ascii=False)
    finally:
        await client.aclose()


async def _erased_row(client: ApiClient, thread_id: str) -> tuple[Any, ...]:
    async with client.services.engine.connect() as connection:
        return tuple((await connection.execute(ErasedThread.__table__.select().where(ErasedThread.thread_id == thread_id))).one())


def _memory(client: ApiClient) -> Any:
    """The in-process MemoryService behind its open-on-first-use proxy."""
    return client.services.backends.memory._opened  # type: ignore[attr-defined]


async def _vector_ids(client: ApiClient, tenant_id: str, thread_id: str) -> list[str]:
    vectors = _memory(client)._vectors
    return await asyncio.to_thread(vectors._query_ids, f'tenant_id == "{tenant_id}" and thread_id == "{thread_id}"')


async def _everything(client: ApiClient, settings: Settings, tenant_id: str) -> str:
    """What the tenant's relational rows, memory index and Redis keys hold (vectors hold ids and numbers only)."""
    return await _relational_text(client, tenant_id) + _fts_text(settings, tenant_id) + await _redis_text(settings, tenant_id)


async def test_erasing_a_thread_removes_the_customer_from_every_store_and_answers_a_receipt(
    tenant_a: ApiClient, tenant_b: ApiClient, settings: Settings
) -> None:
    chat = await _customer(tenant_a)
    kept = await _customer(tenant_a, "陈小红", "13900000000", "crm-43")
    other_tenant = await _customer(tenant_b)  # the same customer, at another brand
    assert await _vector_ids(tenant_a, "tenant-a", chat.thread_id)
    before = await _everything(tenant_a, settings, "tenant-a")
    assert PHONE in before and NAME in before
    if settings.redis_url:
        assert chat.thread_id in await _redis_text(settings, "tenant-a")  # the window was cached

    with recording() as metrics:
        receipt = await tenant_a.expect(200, "DELETE", f"/v1/threads/{chat.thread_id}", params={"erase": "true"})
    assert receipt["state"] == "done" and receipt["subject"] == "thread" and receipt["thread_ids"] == [chat.thread_id]
    removed = receipt["receipt"]
    assert removed["messages"] == 2 and removed["runs"] == 1 and removed["threads"] == 1
    assert removed["longterm_sqlite_fts"] >= 2 and removed["vectors_milvus_lite"] == removed["longterm_sqlite_fts"]
    assert removed.get("conversation_redis", 0) == (2 if settings.redis_url else 0)
    assert metrics.total(PERSONAL_DATA_REMOVED, reason="erasure", store="messages") == 2

    # Searched everywhere, nothing of the customer is left: not in any table, the memory index, Redis or the vectors.
    everything = await _everything(tenant_a, settings, "tenant-a")
    for personal in (PHONE, NAME, "crm-42"):
        assert personal not in everything
    # Only the erasure's own record still names the thread (so that erasing it again answers the same receipt).
    assert chat.thread_id not in everything.replace(json.dumps([str(v) for v in await _erased_row(tenant_a, chat.thread_id)]), "")
    assert await _vector_ids(tenant_a, "tenant-a", chat.thread_id) == []
    assert {hit["thread_id"] for hit in (await tenant_a.expect(200, "GET", "/v1/memory/search", params={"q": ALLERGY}))["results"]} \
        == {kept.thread_id}
    assert_error(await tenant_a.get(f"/v1/threads/{chat.thread_id}"), 404, "THREAD_NOT_FOUND")

    # The other thread of the tenant, and the other tenant's customer, are whole.
    for client, thread in ((tenant_a, kept), (tenant_b, other_tenant)):
        assert len((await client.expect(200, "GET", f"/v1/threads/{thread.thread_id}/messages"))["messages"]) == 2
        hits = (await client.expect(200, "GET", "/v1/memory/search", params={"q": ALLERGY, "thread_id": thread.thread_id}))
        assert hits["results"]
    assert await _vector_ids(tenant_b, "tenant-b", other_tenant.thread_id)


async def test_erasure_is_idempotent_confirmed_and_tenant_scoped(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    chat = await _customer(tenant_a)
    assert_error(await tenant_a.delete(f"/v1/threads/{chat.thread_id}"), 400, "ERASE_NOT_CONFIRMED")
    assert_error(await tenant_a.delete(f"/v1/threads/{chat.thread_id}", params={"erase": "false"}), 400, "ERASE_NOT_CONFIRMED")
    assert_error(await tenant_b.delete(f"/v1/threads/{chat.thread_id}", params={"erase": "true"}), 404, "THREAD_NOT_FOUND")
    assert len((await tenant_a.expect(200, "GET", f"/v1/threads/{chat.thread_id}/messages"))["messages"]) == 2

    first = await tenant_a.expect(200, "DELETE", f"/v1/threads/{chat.thread_id}", params={"erase": "true"})
    again = await tenant_a.expect(200, "DELETE", f"/v1/threads/{chat.thread_id}", params={"erase": "true"})
    assert again == first  # the same erasure, its receipt unchanged
    assert await tenant_a.expect(200, "GET", f"/v1/erasures/{first['erasure_id']}") == first
    assert_error(await tenant_b.get(f"/v1/erasures/{first['erasure_id']}"), 404, "ERASURE_NOT_FOUND")
    assert_error(await tenant_a.delete("/v1/threads/no-such-thread", params={"erase": "true"}), 404, "THREAD_NOT_FOUND")


async def test_a_customer_is_erased_by_phone_or_external_id_across_their_threads(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    first, second = await _customer(tenant_a), await _customer(tenant_a, phone="+86 138-1234-5678", external="crm-x")
    someone_else = await _customer(tenant_a, "陈小红", "13900000000", "crm-43")
    other_tenant = await _customer(tenant_b)

    receipt = await tenant_a.expect(200, "POST", "/v1/customers/erase", json={"phone": "+8613812345678"})
    assert receipt["subject"] == "phone" and sorted(receipt["thread_ids"]) == sorted([first.thread_id, second.thread_id])
    assert receipt["receipt"]["threads"] == 2 and receipt["receipt"]["messages"] == 4
    for gone in (first, second):
        assert_error(await tenant_a.get(f"/v1/threads/{gone.thread_id}"), 404, "THREAD_NOT_FOUND")
    await tenant_a.expect(200, "GET", f"/v1/threads/{someone_else.thread_id}")
    await tenant_b.expect(200, "GET", f"/v1/threads/{other_tenant.thread_id}")
    by_id = await tenant_a.expect(200, "POST", "/v1/customers/erase", json={"external_user_id": "crm-43"})
    assert by_id["subject"] == "external_user_id" and by_id["thread_ids"] == [someone_else.thread_id]
    assert_error(await tenant_a.get(f"/v1/threads/{someone_else.thread_id}"), 404, "THREAD_NOT_FOUND")

    nobody = await tenant_a.expect(200, "POST", "/v1/customers/erase", json={"external_user_id": "crm-404"})
    assert nobody["state"] == "done" and nobody["thread_ids"] == [] and nobody["receipt"] == {}
    for body in ({}, {"phone": PHONE, "external_user_id": "crm-42"}, {"phone": "not a phone"}, {"external_user_id": ""}):
        assert_error(await tenant_a.post("/v1/customers/erase", json=body), 422, "VALIDATION_ERROR")


class DiesHalfWay:
    """The memory backend of a replica that dies while erasing: the first erase is cancelled (as a killed process
    stops: nothing after it runs, no error recorded); later calls reach the real backend."""

    def __init__(self, real: Any) -> None:
        self.real, self.died = real, False

    async def erase_thread(self, tenant_id: str, thread_id: str) -> dict[str, int]:
        if not self.died:
            self.died = True
            raise asyncio.CancelledError
        return await self.real.erase_thread(tenant_id, thread_id)


async def test_an_erasure_killed_half_way_is_resumed_and_only_then_reported_done(tenant_a: ApiClient, settings: Settings) -> None:
    chat = await _customer(tenant_a)
    service = tenant_a.services.personal_data
    service._memory = DiesHalfWay(service._memory)  # type: ignore[assignment]

    with pytest.raises(asyncio.CancelledError):
        await service.erase_thread("tenant-a", chat.thread_id, exists=True)
    erasure = await tenant_a.services.personal_data._store.of_thread("tenant-a", chat.thread_id)
    assert erasure is not None
    # Half-way: the relational rows are gone, memory is not, and the erasure says so.
    pending = await tenant_a.expect(202, "GET", f"/v1/erasures/{erasure.erasure_id}")
    assert pending["state"] == "pending" and pending["receipt"]["messages"] == 2 and "threads" not in pending["receipt"]
    assert NAME in _fts_text(settings, "tenant-a")
    # Its replica is dead: its claim outlives it, and no other replica takes the erasure before the claim expires.
    assert await service.resume() == 0
    async with tenant_a.services.engine.begin() as connection:
        await connection.execute(update(Erasure).values(claimed_until=utcnow() - timedelta(seconds=1)))

    assert await service.resume() == 1  # the run worker's housekeeping, on any replica
    done = await tenant_a.expect(200, "GET", f"/v1/erasures/{erasure.erasure_id}")
    assert done["state"] == "done" and done["attempts"] == 2 and done["receipt"]["threads"] == 1
    assert done["receipt"]["longterm_sqlite_fts"] >= 2
    assert NAME not in await _everything(tenant_a, settings, "tenant-a")
    assert await _vector_ids(tenant_a, "tenant-a", chat.thread_id) == []


async def test_a_store_failure_leaves_the_erasure_pending_with_its_error_until_it_completes(tenant_a: ApiClient) -> None:
    chat = await _customer(tenant_a)
    service = tenant_a.services.personal_data
    real = service._memory

    class Unreachable:
        async def erase_thread(self, tenant_id: str, thread_id: str) -> dict[str, int]:
            raise ConnectionError("Milvus unreachable")

    service._memory = Unreachable()  # type: ignore[assignment]
    pending = await tenant_a.expect(202, "DELETE", f"/v1/threads/{chat.thread_id}", params={"erase": "true"})
    assert pending["state"] == "pending" and "Milvus unreachable" in pending["last_error"]
    service._memory = real
    done = await tenant_a.expect(200, "DELETE", f"/v1/threads/{chat.thread_id}", params={"erase": "true"})
    assert done["erasure_id"] == pending["erasure_id"] and done["state"] == "done" and done["last_error"] is None


async def test_an_erasure_waits_for_the_turn_in_flight_and_blocks_new_ones(tenant_a: ApiClient) -> None:
    chat = await _customer(tenant_a)
    runs = tenant_a.services.runs
    held = await runs.start("tenant-a", chat.thread_id, 30, assistant_id=None, mode="wait", metadata={},
                            input=[{"role": "user", "content": "在吗"}], requested_model=None)
    assert held is not None
    erasing = asyncio.create_task(tenant_a.services.personal_data.erase_thread("tenant-a", chat.thread_id, exists=True))
    await asyncio.sleep(0.3)
    assert not erasing.done()  # the turn holds the thread
    await runs.complete(held, result={"response": "在的"}, model=None, input_tokens=0, output_tokens=0, cost_usd=0.0,
                        messages=[{"role": "user", "content": "在吗"}])
    erasure = await asyncio.wait_for(erasing, 10)
    assert erasure.state == "done"
    assert_error(await chat.client.post(chat.url("runs/wait"), json=chat.body("你好")), 404, "THREAD_NOT_FOUND")


async def test_export_holds_everything_about_the_customer_and_round_trips(tenant_a: ApiClient, tenant_b: ApiClient) -> None:
    chat = await _customer(tenant_a)
    exported = await tenant_a.expect(200, "GET", f"/v1/threads/{chat.thread_id}/export")
    parsed = ThreadExport.model_validate(exported)
    assert ThreadExport.model_validate_json(parsed.model_dump_json()) == parsed
    assert parsed.thread.phone == PHONE and parsed.thread.real_name == NAME and parsed.thread.external_user_id == "crm-42"
    assert [m.role for m in parsed.messages] == ["user", "assistant"] and parsed.messages[0].content == said(NAME, PHONE)
    assert len(parsed.runs) == 1 and parsed.runs[0].input[0]["content"] == said(NAME, PHONE) and parsed.runs[0].result is not None
    texts = [memory.text for memory in parsed.memories]
    assert f"{NAME}{ALLERGY}" in texts and any(ALLERGY in text for text in texts if text != f"{NAME}{ALLERGY}")
    assert parsed.truncated is False
    assert_error(await tenant_b.get(f"/v1/threads/{chat.thread_id}/export"), 404, "THREAD_NOT_FOUND")


async def test_retention_deletes_what_is_older_than_the_tenants_limits_and_nothing_else(
    admin: ApiClient, tenant_a: ApiClient, tenant_b: ApiClient
) -> None:
    old, recent = await _customer(tenant_a), await _customer(tenant_a, "陈小红", "13900000000", "crm-43")
    untouched = await _customer(tenant_b)  # tenant-b sets no retention
    long_ago = utcnow() - timedelta(days=40)
    async with tenant_a.services.engine.begin() as connection:
        for thread in (old, untouched):
            await connection.execute(update(Message).where(Message.thread_id == thread.thread_id).values(created_at=long_ago))
            await connection.execute(update(Run).where(Run.thread_id == thread.thread_id).values(created_at=long_ago))
    memory = _memory(tenant_a)
    for tenant, thread in (("tenant-a", old), ("tenant-b", untouched)):
        await memory._longterm.add([MemoryRecord(memory_id=f"old-{tenant}", tenant_id=tenant, thread_id=thread.thread_id,
                                                 text="三年前做过双眼皮", memory_type="manual", created_at=long_ago)])

    assert_error(await admin.put("/v1/tenants/tenant-a", json={"features": {"retention": {"messages_days": 0}}}),
                 422, "VALIDATION_ERROR")
    await admin.expect(200, "PUT", "/v1/tenants/tenant-a", json={"features": {"retention": {"messages_days": 30, "memories_days": 30}}})
    with recording() as metrics:
        removed = await tenant_a.services.retention.sweep()
    assert removed["messages"] == 2 and removed["runs"] == 1 and removed["memories"] == 1
    assert metrics.total(PERSONAL_DATA_REMOVED, reason="retention", store="messages") == 2

    assert (await tenant_a.expect(200, "GET", f"/v1/threads/{old.thread_id}/messages"))["messages"] == []
    assert len((await tenant_a.expect(200, "GET", f"/v1/threads/{recent.thread_id}/messages"))["messages"]) == 2
    assert len((await tenant_b.expect(200, "GET", f"/v1/threads/{untouched.thread_id}/messages"))["messages"]) == 2
    assert [r.memory_id for r in await memory._longterm.get("tenant-a", ["old-tenant-a"])] == []
    assert [r.memory_id for r in await memory._longterm.get("tenant-b", ["old-tenant-b"])] == ["old-tenant-b"]
    assert not any((await tenant_a.services.retention.sweep()).values())  # nothing older is left
