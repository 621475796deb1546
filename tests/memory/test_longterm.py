"""Contract of the long-term index, run against SQLite FTS5 and, when MAS_TEST_ELASTICSEARCH_URL is set,
Elasticsearch: Chinese short and long queries, mixed Chinese/English, ranking, tenant/thread/type filters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from memory.longterm import ElasticLongTermIndex, LongTermIndex, SqliteLongTermIndex
from memory.types import MemoryRecord, MemoryType
from tests.memory.conftest import ELASTICSEARCH_URL, embedded_settings


@pytest.fixture(scope="module", params=["sqlite", "elasticsearch"])
async def index(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LongTermIndex]:
    if request.param == "sqlite":
        sqlite = SqliteLongTermIndex.open(embedded_settings(tmp_path_factory.mktemp("longterm")))
        yield sqlite
        await sqlite.close()
        return
    if not ELASTICSEARCH_URL:
        pytest.skip("MAS_TEST_ELASTICSEARCH_URL is not set: no Elasticsearch server to run the contract against")
    settings = embedded_settings(
        tmp_path_factory.mktemp("es"),
        elasticsearch_url=ELASTICSEARCH_URL,
        elasticsearch_index_prefix=f"mas-test-{uuid.uuid4().hex[:8]}",
    )
    elastic = await ElasticLongTermIndex.open(settings)
    yield elastic
    await elastic._es.indices.delete(index=settings.index_name("memory"))
    await elastic.close()


T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def memory(
    tenant: str, text: str, thread: str = "t1", kind: MemoryType = "manual", tags: list[str] | None = None, age: int = 0
) -> MemoryRecord:
    return MemoryRecord(
        memory_id=str(uuid.uuid4()),
        tenant_id=tenant,
        thread_id=thread,
        text=text,
        memory_type=kind,
        tags=tags or [],
        created_at=T0 - timedelta(days=age),
    )


async def texts(index: LongTermIndex, tenant: str, query: str, **filters: object) -> list[str]:
    return [record.text for record, _ in await index.search(tenant, query, **filters)]  # type: ignore[arg-type]


async def test_two_character_chinese_queries_find_exactly_the_memories_with_that_word(index: LongTermIndex, tenant: str) -> None:
    await index.add(
        [memory(tenant, "客户对酒精过敏，护肤品要无酒精"), memory(tenant, "预算在5000元以内"), memory(tenant, "上个月做过水光针")]
    )
    assert await texts(index, tenant, "过敏") == ["客户对酒精过敏，护肤品要无酒精"]
    assert await texts(index, tenant, "预算") == ["预算在5000元以内"]
    assert await texts(index, tenant, "水光针") == ["上个月做过水光针"]
    assert await texts(index, tenant, "双眼皮") == []


async def test_long_chinese_queries_rank_the_most_relevant_memory_first(index: LongTermIndex, tenant: str) -> None:
    await index.add(
        [
            memory(tenant, "喜欢清爽不油腻的面霜"),
            memory(tenant, "对酒精过敏，用含酒精的爽肤水会起红疹"),
            memory(tenant, "想做水光针，担心术后过敏泛红"),
            memory(tenant, "预算三千左右"),
        ]
    )
    ranked = await texts(index, tenant, "我对酒精过敏，推荐什么爽肤水比较好？", k=3)
    assert ranked[0] == "对酒精过敏，用含酒精的爽肤水会起红疹"
    assert "想做水光针，担心术后过敏泛红" in ranked and "预算三千左右" not in ranked
    scores = [score for _, score in await index.search(tenant, "我对酒精过敏，推荐什么爽肤水比较好？", k=3)]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


async def test_mixed_chinese_and_english_and_single_characters(index: LongTermIndex, tenant: str) -> None:
    await index.add([memory(tenant, "对Retinol过敏，不能用A醇"), memory(tenant, "每天用SPF50的防晒"), memory(tenant, "痘痘反复")])
    assert await texts(index, tenant, "retinol") == ["对Retinol过敏，不能用A醇"]
    assert await texts(index, tenant, "spf50 防晒霜") == ["每天用SPF50的防晒"]
    assert await texts(index, tenant, "痘") == ["痘痘反复"]
    assert await texts(index, tenant, "？！…") == []


async def test_tags_are_searchable(index: LongTermIndex, tenant: str) -> None:
    await index.add([memory(tenant, "春节前想变美", tags=["双眼皮", "急"])])
    assert await texts(index, tenant, "双眼皮") == ["春节前想变美"]


async def test_search_is_filtered_by_tenant_thread_and_memory_type(index: LongTermIndex, tenant: str) -> None:
    other = tenant + "-other"
    await index.add(
        [
            memory(tenant, "t1 对花粉过敏", "t1", "episodic"),
            memory(tenant, "t2 对花粉过敏", "t2", "summary"),
            memory(other, "别家 对花粉过敏", "t1", "episodic"),
        ]
    )
    assert sorted(await texts(index, tenant, "花粉过敏")) == ["t1 对花粉过敏", "t2 对花粉过敏"]
    assert await texts(index, tenant, "花粉过敏", thread_id="t1") == ["t1 对花粉过敏"]
    assert await texts(index, tenant, "花粉过敏", memory_types=["summary"]) == ["t2 对花粉过敏"]
    assert await texts(index, other, "花粉过敏") == ["别家 对花粉过敏"]
    assert await texts(index, tenant + "-nobody", "花粉过敏") == []


async def test_equal_relevance_prefers_important_then_recent(index: LongTermIndex, tenant: str) -> None:
    old, new = memory(tenant, "预算五千", age=30), memory(tenant, "预算五千", age=1)
    important = memory(tenant, "预算五千", age=60).model_copy(update={"importance": 0.9})
    await index.add([old, new, important])
    assert [record.memory_id for record, _ in await index.search(tenant, "预算")] == [
        important.memory_id,
        new.memory_id,
        old.memory_id,
    ]


async def test_add_replaces_by_memory_id_and_get_returns_the_tenants_records_in_order(index: LongTermIndex, tenant: str) -> None:
    first, second = memory(tenant, "喜欢自然妆感"), memory(tenant, "喜欢浓妆")
    await index.add([first, second])
    await index.add([first.model_copy(update={"text": "喜欢裸妆"})])
    assert await texts(index, tenant, "自然妆感") == []
    got = await index.get(tenant, [second.memory_id, "unknown", first.memory_id])
    assert [(r.memory_id, r.text) for r in got] == [(second.memory_id, "喜欢浓妆"), (first.memory_id, "喜欢裸妆")]
    assert got[0] == second and got[0].created_at.tzinfo is not None
    assert await index.get(tenant + "-other", [first.memory_id]) == []


async def test_delete_only_within_the_tenant_and_thread(index: LongTermIndex, tenant: str) -> None:
    record = memory(tenant, "做过热玛吉", "t1")
    await index.add([record])
    assert not await index.delete(tenant + "-other", "t1", record.memory_id)
    assert not await index.delete(tenant, "t2", record.memory_id)
    assert await index.delete(tenant, "t1", record.memory_id)
    assert not await index.delete(tenant, "t1", record.memory_id)
    assert await texts(index, tenant, "热玛吉") == [] and await index.get(tenant, [record.memory_id]) == []


async def test_check_reports_ok(index: LongTermIndex) -> None:
    assert await index.check() == "ok"


def test_the_sqlite_file_lives_under_the_data_dir(tmp_path: Path) -> None:
    assert embedded_settings(tmp_path).fts_path("memory") == tmp_path.resolve() / "memory_fts.db"


async def test_every_memory_of_a_tenant_can_be_paged_through_by_id(index: LongTermIndex, tenant: str) -> None:
    mine = [memory(tenant, f"记录{i}") for i in range(7)]
    await index.add([*mine, memory(f"{tenant}-other", "别人的记录")])
    pages, after = [], ""
    while page := await index.ids(tenant, after, 3):
        pages.append(page)
        after = page[-1]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [memory_id for page in pages for memory_id in page] == sorted(record.memory_id for record in mine)
