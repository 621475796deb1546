"""Erasure, retention and export of a thread's memory, one contract on every backend: the window in the transcript or
Redis, memories in FTS5 or Elasticsearch (when MAS_TEST_ELASTICSEARCH_URL is set), vectors in Milvus Lite or on a
Milvus server. After an erasure every store is searched for the customer's phone, name and memories."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from memory.service import MemoryService
from memory.settings import MemorySettings
from memory.types import MemoryRecord, TurnMessage
from tests.memory.conftest import ELASTICSEARCH_URL, embedded_settings
from tests.memory.doubles import InMemoryTranscript

PHONE, NAME = "13812345678", "林小美"
TOLD = f"我叫{NAME}，电话{PHONE}，对青霉素过敏，预算5000以内"


@pytest.fixture(params=["embedded", "redis+milvus_server", "elasticsearch"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> MemorySettings:
    settings = embedded_settings(tmp_path)
    if request.param == "redis+milvus_server":
        prefix = f"mas_test_{uuid.uuid4().hex[:8]}"
        settings = settings.model_copy(update={"redis_url": request.getfixturevalue("redis_url"),
                                               "milvus_uri": request.getfixturevalue("milvus_server").uri,
                                               "milvus_collection_prefix": prefix})
    if request.param == "elasticsearch":
        if not ELASTICSEARCH_URL:
            pytest.skip("MAS_TEST_ELASTICSEARCH_URL is not set: no Elasticsearch server to run the contract against")
        settings = settings.model_copy(update={"elasticsearch_url": ELASTICSEARCH_URL,
                                               "elasticsearch_index_prefix": f"mas-test-{uuid.uuid4().hex[:8]}"})
    return settings


@pytest.fixture
async def memory(settings: MemorySettings) -> AsyncIterator[tuple[MemoryService, InMemoryTranscript]]:
    transcript = InMemoryTranscript()
    service = await MemoryService.open(settings, transcript)
    try:
        yield service, transcript
    finally:
        if settings.milvus_uri:
            await asyncio.to_thread(service._vectors._client.drop_collection, settings.collection_name("memory"))
        if settings.elasticsearch_url:
            await service._longterm._es.indices.delete(index=settings.index_name("memory"))  # type: ignore[attr-defined]
        await service.close()


async def _told(service: MemoryService, transcript: InMemoryTranscript, tenant: str, thread: str) -> None:
    """The customer's turn as a run stores it, then the memory write after it, and a memory an operator inserted."""
    turn = transcript.write(tenant, thread, ("user", TOLD), ("assistant", "好的，已为您记录"))
    await service.remember_turn(tenant, thread, turn)
    await service.insert(tenant, thread, [f"{NAME}的手机号{PHONE}"])
    await service.recall(tenant, thread, "过敏")  # fills the window cache (Redis) and the scope mirror (Lite)


async def _held(service: MemoryService, tenant: str, thread: str) -> str:
    """What every store still holds of the thread: its window, its memories, its vector rows, its search hits."""
    window = await service._window.window(tenant, thread)
    memories = await service.thread_memories(tenant, thread)
    vector_ids = await asyncio.to_thread(service._vectors._query_ids, f'tenant_id == "{tenant}" and thread_id == "{thread}"')
    hits = [hit.memory.text for query in (PHONE, NAME, "过敏") for hit in await service.search(tenant, query, thread, k=10)]
    return repr((window, [m.text for m in memories], vector_ids, hits))


async def test_erasing_a_thread_leaves_nothing_of_it_in_any_store(memory: tuple[MemoryService, InMemoryTranscript]) -> None:
    service, transcript = memory
    tenant, other_tenant = f"t-{uuid.uuid4().hex[:6]}", f"t-{uuid.uuid4().hex[:6]}"
    for who, thread in ((tenant, "erased"), (tenant, "kept"), (other_tenant, "erased")):
        await _told(service, transcript, who, thread)
    assert PHONE in await _held(service, tenant, "erased")
    transcript.threads.pop((tenant, "erased"))  # the relational rows go first (runs.personal_data)

    removed = await service.erase_thread(tenant, "erased")
    longterm, vectors = f"longterm_{service._longterm.name}", f"vectors_{service._vectors.name}"
    assert removed[longterm] >= 2 and removed[vectors] == removed[longterm]
    assert removed[f"conversation_{service._window.name}"] == (2 if service._window.name == "redis" else 0)
    assert not any((await service.erase_thread(tenant, "erased")).values())  # idempotent: nothing left to remove
    held = await _held(service, tenant, "erased")
    assert PHONE not in held and NAME not in held and "过敏" not in held

    for who, thread in ((tenant, "kept"), (other_tenant, "erased")):
        assert PHONE in await _held(service, who, thread)  # the tenant's other thread, another tenant's same thread id


async def test_vectors_left_without_their_memory_by_a_crash_are_erased_too(memory: tuple[MemoryService, InMemoryTranscript]) -> None:
    service, transcript = memory
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    await _told(service, transcript, tenant, "erased")
    ids = [record.memory_id for record in await service.thread_memories(tenant, "erased")]
    await service._longterm.remove(tenant, ids)  # a crash after the records went, before their vectors did

    removed = await service.erase_thread(tenant, "erased")
    assert removed[f"vectors_{service._vectors.name}"] == len(ids)
    assert await asyncio.to_thread(service._vectors._query_ids, f'tenant_id == "{tenant}"') == []


async def test_expire_removes_the_tenants_memories_older_than_the_limit(memory: tuple[MemoryService, InMemoryTranscript]) -> None:
    service, _ = memory
    tenant, other_tenant = f"t-{uuid.uuid4().hex[:6]}", f"t-{uuid.uuid4().hex[:6]}"
    now = datetime.now(timezone.utc)
    for who in (tenant, other_tenant):
        await service._longterm.add([MemoryRecord(memory_id=f"{who}-old", tenant_id=who, thread_id="t1", text="三年前做过双眼皮",
                                                  memory_type="manual", created_at=now - timedelta(days=400))])
    recent = await service.insert(tenant, "t1", ["上周做过水光针"])

    assert await service.expire(tenant, now - timedelta(days=365)) == 1
    assert [m.memory_id for m in await service.thread_memories(tenant, "t1")] == [recent[0].memory_id]
    assert [m.memory_id for m in await service.thread_memories(other_tenant, "t1")] == [f"{other_tenant}-old"]


async def test_a_threads_memories_are_exported_oldest_first(memory: tuple[MemoryService, InMemoryTranscript]) -> None:
    service, transcript = memory
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    await _told(service, transcript, tenant, "t1")
    await service.insert(tenant, "t2", ["另一位客户"])
    exported = await service.thread_memories(tenant, "t1")
    assert {m.thread_id for m in exported} == {"t1"} and any(PHONE in m.text for m in exported)
    assert [m.created_at for m in exported] == sorted(m.created_at for m in exported)
    assert len(await service.thread_memories(tenant, "t1", limit=1)) == 1
    assert TurnMessage(role="user", content=TOLD) in await service._window.window(tenant, "t1")
