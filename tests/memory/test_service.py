"""MemoryService end to end on the embedded backends: the /v1/memory operations, recall, the per-turn write
(facts, summaries) and tenant isolation."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory.service import MemoryService
from memory.types import MemoryRecord, TurnMessage
from tests.memory.conftest import CHUNK, WINDOW, embedded_settings
from tests.memory.doubles import InMemoryTranscript, ScriptedSummariser


async def test_inserted_memories_are_found_best_first_with_scores_and_sources(service: MemoryService, tenant: str) -> None:
    records = await service.insert(
        tenant, "t1", ["客户对酒精过敏，护肤品要无酒精", "预算在5000元以内", "上个月做过水光针"], tags=["profile"]
    )
    assert [(r.tenant_id, r.thread_id, r.memory_type, r.tags) for r in records] == [(tenant, "t1", "manual", ["profile"])] * 3
    hits = await service.search(tenant, "我对酒精过敏", "t1", k=3)
    assert hits[0].memory == records[0] and hits[0].matched_by == ["vector", "keyword"] and hits[0].score == pytest.approx(1.0)
    assert [hit.memory.memory_id for hit in await service.search(tenant, "预算多少", "t1", k=1)] == [records[1].memory_id]
    assert await service.search(tenant, "   ", "t1") == [] and await service.search(tenant, "过敏", "t1", k=0) == []


async def test_search_covers_the_tenant_without_a_thread_and_one_thread_with_it(service: MemoryService, tenant: str) -> None:
    await service.insert(tenant, "t1", ["喜欢自然妆感"])
    await service.insert(tenant, "t2", ["喜欢浓妆"])
    assert {hit.memory.thread_id for hit in await service.search(tenant, "喜欢 妆", k=10)} == {"t1", "t2"}
    assert {hit.memory.thread_id for hit in await service.search(tenant, "喜欢 妆", "t2", k=10)} == {"t2"}


async def test_vector_hits_below_the_noise_floor_are_dropped(
    service: MemoryService, memory_dir: Path, transcript: InMemoryTranscript, tenant: str
) -> None:
    await service.insert(tenant, "t1", ["喜欢哑光口红"])
    assert await service.search(tenant, "今天天气不错", "t1") == []
    # A second service on the same files (it shares this process's Milvus Lite server), with no floor.
    lenient = await MemoryService.open(embedded_settings(memory_dir, vector_min_similarity=-1.0), transcript)
    try:
        hits = await lenient.search(tenant, "今天天气不错", "t1")
        assert [(hit.memory.text, hit.matched_by, hit.score) for hit in hits] == [("喜欢哑光口红", ["vector"], 0.5)]
    finally:
        await lenient.close()
    assert [hit.memory.text for hit in await service.search(tenant, "口红", "t1")] == ["喜欢哑光口红"]  # still served


async def test_deleted_memories_are_gone_from_both_indexes(service: MemoryService, tenant: str) -> None:
    keep, drop = await service.insert(tenant, "t1", ["敏感肌，换季容易泛红", "想在春节前做双眼皮"])
    assert not await service.delete(tenant, "t2", drop.memory_id)
    assert not await service.delete(tenant + "-other", "t1", drop.memory_id)
    assert await service.delete(tenant, "t1", drop.memory_id)
    assert not await service.delete(tenant, "t1", drop.memory_id)
    assert await service.search(tenant, "想在春节前做双眼皮", "t1") == []
    assert [hit.memory for hit in await service.search(tenant, "敏感肌", "t1")] == [keep]


async def test_tenants_never_see_each_others_memories_even_on_the_same_thread_id(service: MemoryService, tenant: str) -> None:
    other = tenant + "-b"
    (mine,) = await service.insert(tenant, "shared-thread", ["对玻尿酸过敏"])
    await service.insert(other, "shared-thread", ["对花粉过敏"])
    assert [hit.memory.text for hit in await service.search(other, "玻尿酸 过敏", k=10)] == ["对花粉过敏"]
    assert [hit.memory.text for hit in await service.search(other, "对玻尿酸过敏", "shared-thread", k=10)] == ["对花粉过敏"]
    assert not await service.delete(other, "shared-thread", mine.memory_id)
    assert [hit.memory for hit in await service.search(tenant, "过敏", "shared-thread", k=10)] == [mine]
    recall = await service.recall(other, "shared-thread", "玻尿酸过敏")
    assert [hit.memory.text for hit in recall.memories] == ["对花粉过敏"]


async def remember(
    service: MemoryService, transcript: InMemoryTranscript, tenant: str, thread: str, user: str, reply: str
) -> list[MemoryRecord]:
    """One turn: the API persists the messages, then calls remember_turn with them."""
    return await service.remember_turn(tenant, thread, transcript.write(tenant, thread, ("user", user), ("assistant", reply)))


async def test_remember_turn_stores_the_users_facts_once(
    service: MemoryService, transcript: InMemoryTranscript, tenant: str
) -> None:
    written = await remember(
        service, transcript, tenant, "t1", "我是敏感肌，对酒精过敏，预算五千左右", "好的，我记下了，推荐无酒精的产品"
    )
    assert [(r.text, r.memory_type, r.tags) for r in written] == [
        ("肤质：敏感肌", "episodic", ["skin_type"]),
        ("过敏：对酒精过敏", "episodic", ["allergy"]),
        ("预算：5000元左右", "episodic", ["budget"]),
    ]
    again = await remember(service, transcript, tenant, "t1", "再说一遍，我对酒精过敏", "明白，您对酒精过敏")
    assert again == []
    assert [hit.memory.text for hit in await service.search(tenant, "过敏", "t1", k=10)] == ["过敏：对酒精过敏"]
    assert await remember(service, transcript, tenant, "t2", "我对酒精过敏", "好的") != []  # facts are per thread


async def test_recall_gives_the_window_and_the_threads_relevant_memories(
    service: MemoryService, transcript: InMemoryTranscript, tenant: str
) -> None:
    await remember(service, transcript, tenant, "t1", "我对酒精过敏", "好的")
    await remember(service, transcript, tenant, "t1", "我想做热玛吉", "热玛吉可以紧致提拉")
    await remember(service, transcript, tenant, "t1", "最近皮肤很干", "注意补水")
    await remember(service, transcript, tenant, "t2", "我对花粉过敏", "好的")
    recall = await service.recall(tenant, "t1", "这个面霜含酒精吗，我会不会过敏", k=2)
    assert [m.content for m in recall.window] == ["我想做热玛吉", "热玛吉可以紧致提拉", "最近皮肤很干", "注意补水"]
    assert recall.memories[0].memory.text == "过敏：对酒精过敏"
    assert all(hit.memory.thread_id == "t1" for hit in recall.memories)


async def test_recall_brings_the_threads_profile_facts_whatever_the_query(
    service: MemoryService, transcript: InMemoryTranscript, tenant: str
) -> None:
    await remember(service, transcript, tenant, "t1", "我对玻尿酸过敏，预算五千左右", "好的")
    await remember(service, transcript, tenant, "t2", "我是干皮", "好的")
    recall = await service.recall(tenant, "t1", "明天下午3点可以过来面诊吗", k=3)
    assert {hit.memory.text for hit in recall.memories} == {"过敏：对玻尿酸过敏", "预算：5000元左右"}


async def test_messages_that_left_the_window_are_summarised_once_by_the_llm(
    service: MemoryService, transcript: InMemoryTranscript, summariser: ScriptedSummariser, tenant: str
) -> None:
    summariser.reply, summariser.calls = "客户关注补水和过敏", []
    for n in range(3):  # 6 messages, window 4: 2 have left, less than a chunk of 4
        assert all(r.memory_type == "episodic" for r in await remember(service, transcript, tenant, "t1", f"第{n}个问题", "回答"))
    assert summariser.calls == []
    written = await remember(service, transcript, tenant, "t1", "第3个问题", "回答")  # 8 messages: the first 4 have left
    assert [(r.memory_type, r.text, r.tags) for r in written] == [("summary", "客户关注补水和过敏", ["summary"])]
    assert [m.content for m in summariser.calls[0]] == ["第0个问题", "回答", "第1个问题", "回答"]
    assert await remember(service, transcript, tenant, "t1", "第4个问题", "回答") == []
    assert len(summariser.calls) == 1
    assert [hit.memory.memory_type for hit in await service.search(tenant, "补水", "t1")] == ["summary"]
    assert WINDOW == CHUNK == 4


async def test_a_failing_summariser_falls_back_to_the_extractive_summary(
    service: MemoryService, transcript: InMemoryTranscript, summariser: ScriptedSummariser, tenant: str
) -> None:
    summariser.reply = RuntimeError("no model routed")
    await remember(service, transcript, tenant, "t1", "我对酒精过敏，预算五千", "推荐无酒精的修护面霜，价格三百左右")
    await remember(service, transcript, tenant, "t1", "有优惠吗", "本月买二送一")
    await remember(service, transcript, tenant, "t1", "好的", "还有别的问题吗")
    written = await remember(service, transcript, tenant, "t1", "我再想想", "好的")  # 8 messages: the first 4 have left
    (summary,) = [r for r in written if r.memory_type == "summary"]
    assert summary.text.startswith("过敏：对酒精过敏；预算：5000元；") and "顾问：推荐无酒精的修护面霜" in summary.text


async def test_without_a_summariser_the_summary_is_extractive(
    tmp_path: Path, transcript: InMemoryTranscript, tenant: str
) -> None:
    service = await MemoryService.open(embedded_settings(tmp_path, window_size=2, summary_chunk_messages=2), transcript)
    try:
        await remember(service, transcript, tenant, "t1", "我是干皮，冬天起皮严重", "建议用保湿面霜")
        (summary,) = await remember(service, transcript, tenant, "t1", "谢谢", "不客气")
        assert summary.memory_type == "summary" and summary.text.startswith("肤质：干皮；")
        assert await service.check() == {
            "conversation:transcript": "ok",
            "longterm:sqlite_fts": "ok",
            "vectors:milvus_lite": "ok",
        }
    finally:
        await service.close()


async def test_with_redis_each_message_enters_the_window_once(tmp_path: Path, redis_url: str, tenant: str) -> None:
    transcript = InMemoryTranscript()
    service = await MemoryService.open(embedded_settings(tmp_path, redis_url=redis_url), transcript)
    try:
        for n in range(3):
            await remember(service, transcript, tenant, "t1", f"问题{n}", f"回答{n}")
        recall = await service.recall(tenant, "t1", "问题")
        assert [m.content for m in recall.window] == ["问题1", "回答1", "问题2", "回答2"]
        assert (await service.check())["conversation:redis"] == "ok"
    finally:
        keys = (f"mas:{tenant}:window:t1", f"mas:{tenant}:window:t1:version")
        await service._window._redis.delete(*keys)  # type: ignore[attr-defined]
        await service.close()


async def test_check_reports_each_backend(service: MemoryService) -> None:
    assert await service.check() == {"conversation:transcript": "ok", "longterm:sqlite_fts": "ok", "vectors:milvus_lite": "ok"}


def test_memory_and_products_use_different_lite_files_but_one_milvus_server(tmp_path: Path) -> None:
    embedded = embedded_settings(tmp_path)
    assert embedded.vector_uri("memory") == str(tmp_path.resolve() / "memory_vectors.db")
    assert embedded.vector_uri("product") == str(tmp_path.resolve() / "product_vectors.db")
    server = embedded_settings(tmp_path, milvus_uri="http://milvus:19530")
    assert server.vector_uri("memory") == server.vector_uri("product") == "http://milvus:19530"
    assert (server.collection_name("memory"), server.collection_name("product")) == ("mas_memories", "mas_products")
    assert (server.index_name("memory"), server.index_name("product")) == ("mas-memories", "mas-products")


def test_turn_messages_and_records_are_plain_pydantic() -> None:
    import pickle

    message = TurnMessage(role="user", content="你好")
    assert pickle.loads(pickle.dumps(message)) == message


async def test_reembedding_rebuilds_the_vectors_of_every_memory_from_its_text(service: MemoryService, tenant: str) -> None:
    """What the ``reindex`` batch does after an embedder change: vectors lost (a new collection), text kept."""
    records = await service.insert(tenant, "t1", ["客户对酒精过敏，护肤品要无酒精", "预算在5000元以内"])
    ids = await service.memory_ids(tenant)
    assert sorted(ids) == sorted(record.memory_id for record in records)
    await service._vectors.delete(tenant, ids)  # the vectors are gone, as in a fresh collection
    assert "vector" not in (await service.search(tenant, "我对酒精过敏", "t1", k=1))[0].matched_by
    assert await service.reembed(tenant, [*ids, "someone-elses"]) == 2
    assert (await service.search(tenant, "我对酒精过敏", "t1", k=1))[0].matched_by == ["vector", "keyword"]
