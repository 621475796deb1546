"""Repository behaviour, run against every relational backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import inspect, select

from runtime.services import Services
from store.db import make_sessionmaker
from store.migrate import pending_model_changes, upgrade_to_head
from store.models import AppKey, Base
from store.transcript import ThreadTranscript
from tests.store.seed import seed_messages


async def _tenant_with_assistant(services: Services, tenant_id: str = "t1") -> str:
    await services.tenants.upsert(tenant_id, {"tenant_name": tenant_id, "status": "ACTIVE"})
    assistant = await services.assistants.create(
        tenant_id, {"assistant_name": "a", "personality": "p", "occupation": "o", "industry": "i"}
    )
    return assistant.assistant_id


async def test_migrations_create_every_table_and_are_idempotent(services: Services) -> None:
    await upgrade_to_head(services.engine)  # a second replica starting: no-op, no error
    async with services.engine.connect() as connection:
        tables = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    assert set(Base.metadata.tables) <= tables and "alembic_version" in tables


async def test_concurrent_first_syncs_of_a_tenant_create_it_once(services: Services) -> None:
    results = await asyncio.gather(
        *(services.tenants.upsert("t-race", {"tenant_name": f"n{i}", "status": "ACTIVE"}) for i in range(5))
    )
    assert sum(created for _, created in results) == 1
    assert (await services.tenants.get("t-race")).tenant_name in {f"n{i}" for i in range(5)}


async def test_timestamps_come_back_timezone_aware_utc(services: Services) -> None:
    tenant, _ = await services.tenants.upsert("t-tz", {"tenant_name": "tz", "status": "ACTIVE"})
    stored = await services.tenants.get("t-tz")
    assert stored.created_at.utcoffset() == timedelta(0)
    assert abs(stored.created_at - tenant.created_at) < timedelta(seconds=1)


async def test_app_keys_are_stored_only_as_digests(services: Services) -> None:
    issued = await services.app_keys.create("ops", "*", ["backend:admin"])
    async with services.engine.connect() as connection:
        row = (await connection.execute(select(AppKey.__table__))).one()._mapping
    assert issued.key not in {str(v) for v in row.values()}
    assert (await services.app_keys.verify(issued.key)).key_id == issued.record.key_id


async def test_prompt_versions_are_scoped_to_tenant_and_assistant(services: Services) -> None:
    a1 = await _tenant_with_assistant(services, "t1")
    a2 = await _tenant_with_assistant(services, "t2")
    await services.prompts.add_version("t1", a1, {"personality_prompt": "one"}, "created")
    await services.prompts.add_version("t1", a1, {"personality_prompt": "two"}, "created")
    await services.prompts.add_version("t2", a2, {"personality_prompt": "other"}, "created")
    assert (await services.prompts.active("t1", a1)).config == {"personality_prompt": "two"}
    assert (await services.prompts.active("t2", a2)).version == 1
    assert await services.prompts.version("t2", a1, 1) is None  # another tenant's assistant
    assert [v.version for v in await services.prompts.history("t1", a1, 10)] == [2, 1]


async def test_messages_keep_append_order_and_page_backwards(services: Services) -> None:
    await _tenant_with_assistant(services)
    thread = await services.threads.create("t1", {})
    first = await seed_messages(services, "t1", thread.thread_id, [{"role": "user", "content": "在吗"}, {"role": "assistant", "content": "在的"}])
    await seed_messages(services, "t1", thread.thread_id, [{"role": "user", "content": [{"type": "text", "content": "水光针多少钱"}]}])
    newest = await services.threads.messages("t1", thread.thread_id, limit=10)
    assert [m.content for m in newest] == [[{"type": "text", "content": "水光针多少钱"}], "在的", "在吗"]
    older = await services.threads.messages("t1", thread.thread_id, limit=10, before=first[1].message_id)
    assert [m.content for m in older] == ["在吗"]
    assert await services.threads.messages("t2", thread.thread_id, limit=10) == []


async def test_memory_reads_the_transcript_tail_and_pages_oldest_first_within_the_tenant(services: Services) -> None:
    await _tenant_with_assistant(services)
    thread = await services.threads.create("t1", {})
    said = [{"role": "user" if n % 2 == 0 else "assistant", "content": f"第{n}句"} for n in range(7)]
    await seed_messages(services, "t1", thread.thread_id, said[:4])
    await seed_messages(services, "t1", thread.thread_id, said[4:])
    transcript = ThreadTranscript(make_sessionmaker(services.engine))
    assert [m.content for m in await transcript.tail("t1", thread.thread_id, 3)] == ["第4句", "第5句", "第6句"]
    assert [m.content for m in await transcript.tail("t1", thread.thread_id, 50)] == [f"第{n}句" for n in range(7)]
    assert [m.content for m in await transcript.read("t1", thread.thread_id, 2, 2)] == ["第2句", "第3句"]
    assert await transcript.count("t1", thread.thread_id) == 7
    assert await transcript.tail("t2", thread.thread_id, 3) == [] and await transcript.count("t2", thread.thread_id) == 0


async def test_deleted_assistants_are_gone_for_reads_and_writes(services: Services) -> None:
    assistant_id = await _tenant_with_assistant(services)
    assert await services.assistants.delete("t1", assistant_id)
    assert await services.assistants.get("t1", assistant_id) is None
    assert await services.assistants.update("t1", assistant_id, {"assistant_name": "x"}) is None
    assert not await services.assistants.delete("t1", assistant_id)


async def test_migrations_match_the_models(services: Services) -> None:
    """A model change without its migration fails here (write one with `mas db revision -m ...`)."""
    async with services.engine.connect() as connection:
        assert await connection.run_sync(pending_model_changes) == []
