"""``MemoryService``: per-turn recall and write, and the /v1/memory operations, every call scoped by tenant.

Memories live in the long-term index (the records, full text) and the vector store (their
embeddings, by memory_id); search asks both and fuses the rankings. ``ProductIndex`` (the
product catalog search) is defined in ``memory.products`` and exported here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import datetime, timezone

from memory.conversation import ConversationStore, open_conversation_store
from memory.embeddings import Embedder, close_embedder, open_embedder
from memory.facts import extract_facts
from memory.fusion import candidates, fuse_hybrid
from memory.longterm import LongTermIndex, open_longterm_index
from memory.products import ProductIndex
from memory.readiness import check_all
from memory.settings import MemorySettings
from memory.summary import extractive_summary
from memory.transcript import TranscriptReader
from memory.types import MemoryRecord, MemoryType, Recall, ScoredMemory, TurnMessage
from memory.vectors import VectorRow, VectorStore

__all__ = ["MemoryService", "ProductIndex"]

log = logging.getLogger(__name__)
Summarise = Callable[[list[TurnMessage]], Awaitable[str]]

SUMMARY_IMPORTANCE = 0.6
# Bounds the work of one turn when a long thread first gets memory: older chunks stay unsummarised.
MAX_SUMMARIES_PER_TURN = 3
MAX_SUMMARY_CHARS = 1000
# The labels ``memory.facts`` writes profile facts under ("过敏：对酒精过敏"): a keyword query that finds them.
PROFILE_QUERY = "过敏 预算 肤质 做过 偏好"
MAX_EXPORTED_MEMORIES = 10_000
REMOVE_BATCH = 500
_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mas:memory")


def _derived_id(*parts: str) -> str:
    """A stable memory_id, so writing the same fact (or the same summary) again replaces it."""
    return str(uuid.uuid5(_IDS, json.dumps(parts, ensure_ascii=False)))


def _now() -> datetime:
    return datetime.now(timezone.utc)


class MemoryService:
    """Per-turn recall and write, plus the /v1/memory API operations; every call is scoped by tenant."""

    def __init__(
        self,
        settings: MemorySettings,
        transcript: TranscriptReader,
        summarise: Summarise | None,
        embedder: Embedder,
        window: ConversationStore,
        longterm: LongTermIndex,
        vectors: VectorStore,
        resources: AsyncExitStack,
    ) -> None:
        self._settings = settings
        self._transcript = transcript
        self._summarise = summarise
        self._embedder = embedder
        self._window = window
        self._longterm = longterm
        self._vectors = vectors
        self._resources = resources

    @classmethod
    async def open(
        cls, settings: MemorySettings, transcript: TranscriptReader, summarise: Summarise | None = None
    ) -> MemoryService:
        stack = AsyncExitStack()
        try:
            embedder = await open_embedder(settings)
            stack.push_async_callback(close_embedder, embedder)
            window = open_conversation_store(settings, transcript)
            stack.push_async_callback(window.close)
            longterm = await open_longterm_index(settings)
            stack.push_async_callback(longterm.close)
            vectors = await VectorStore.for_kind(settings, "memory", embedder)
            stack.push_async_callback(vectors.close)
        except BaseException:
            await stack.aclose()
            raise
        return cls(settings, transcript, summarise, embedder, window, longterm, vectors, stack)

    # ---- the /v1/memory operations -----------------------------------------------------------------

    async def insert(
        self, tenant_id: str, thread_id: str, texts: list[str], tags: Sequence[str] = (), memory_type: MemoryType = "manual"
    ) -> list[MemoryRecord]:
        now = _now()
        records = [
            MemoryRecord(
                memory_id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                thread_id=thread_id,
                text=text,
                memory_type=memory_type,
                tags=list(tags),
                created_at=now,
            )
            for text in texts
        ]
        await self._write(records)
        return records

    async def delete(self, tenant_id: str, thread_id: str, memory_id: str) -> bool:
        """False when unknown, or another tenant's or thread's."""
        if not await self._longterm.delete(tenant_id, thread_id, memory_id):
            return False
        await self._vectors.delete(tenant_id, [memory_id])
        return True

    # ---- personal data: export, erasure, retention ---------------------------------------------------

    async def thread_memories(self, tenant_id: str, thread_id: str, limit: int = MAX_EXPORTED_MEMORIES) -> list[MemoryRecord]:
        """The thread's memories, oldest first (a customer's data export)."""
        return await self._longterm.listed(tenant_id, thread_id, None, limit)

    async def erase_thread(self, tenant_id: str, thread_id: str) -> dict[str, int]:
        """Removes everything memory holds of the thread: its cached window, its memories and their vectors, plus
        any vector left without its memory (a crash between the two). Idempotent; returns what each store removed."""
        window = await self._window.forget(tenant_id, thread_id)
        memories, vectors = await self._remove(tenant_id, thread_id, None)
        vectors += await self._vectors.delete_thread(tenant_id, thread_id)
        return {f"conversation_{self._window.name}": window, f"longterm_{self._longterm.name}": memories,
                f"vectors_{self._vectors.name}": vectors}

    async def expire(self, tenant_id: str, before: datetime) -> int:
        """Removes the tenant's memories created before ``before`` (retention); how many."""
        memories, _ = await self._remove(tenant_id, None, before)
        return memories

    async def _remove(self, tenant_id: str, thread_id: str | None, before: datetime | None) -> tuple[int, int]:
        """Vectors first, then the records that name them: a crash between the two leaves records, found again
        by the next pass, never vectors nothing can find."""
        memories = vectors = 0
        while records := await self._longterm.listed(tenant_id, thread_id, before, REMOVE_BATCH):
            ids = [record.memory_id for record in records]
            vectors += await self._vectors.delete(tenant_id, ids)
            removed = await self._longterm.remove(tenant_id, ids)
            memories += removed
            if not removed:
                break  # another writer removed them first: nothing left to do here
        return memories, vectors

    async def memory_ids(self, tenant_id: str, after: str = "", limit: int = 1000) -> list[str]:
        """The tenant's memory ids above ``after``, ascending: page through every memory (a re-index)."""
        return await self._longterm.ids(tenant_id, after, limit)

    async def reembed(self, tenant_id: str, memory_ids: list[str]) -> int:
        """Embeds these memories again, from their text in the long-term index, into the vector store: after an
        embedder change, into a new collection (``MAS_MILVUS_COLLECTION_PREFIX``). Returns how many were found."""
        records = await self._longterm.get(tenant_id, memory_ids)
        if records:
            vectors = await self._embedder.embed([record.text for record in records])
            await self._vectors.upsert([VectorRow(r.memory_id, r.tenant_id, r.thread_id, v) for r, v in zip(records, vectors)])
        return len(records)

    async def search(self, tenant_id: str, query: str, thread_id: str | None = None, k: int = 5) -> list[ScoredMemory]:
        """Hybrid search over a thread, or the whole tenant when ``thread_id`` is None; best first.

        The score is the normalised reciprocal-rank fusion of the vector and keyword rankings:
        1.0 means ranked first by both.
        """
        if not query.strip() or k <= 0:
            return []
        wanted = candidates(k)
        (vector,) = await self._embedder.embed([query])
        hits, matches = await asyncio.gather(
            self._vectors.search(tenant_id, vector, wanted, thread_id), self._longterm.search(tenant_id, query, thread_id, wanted)
        )
        floor = self._settings.min_similarity(self._embedder.noise_floor)
        fused = fuse_hybrid(hits, [record.memory_id for record, _ in matches], k, floor)
        records = {record.memory_id: record for record, _ in matches}
        vector_only = [item.id for item in fused if item.id not in records]
        records.update((record.memory_id, record) for record in await self._longterm.get(tenant_id, vector_only))
        return [
            ScoredMemory(memory=records[item.id], score=round(item.score, 6), matched_by=item.matched_by)
            for item in fused
            if item.id in records and (thread_id is None or records[item.id].thread_id == thread_id)
        ]

    # ---- the turn ----------------------------------------------------------------------------------

    async def recall(self, tenant_id: str, thread_id: str, query: str, k: int = 5) -> Recall:
        """The thread's recent window, its top-k long-term memories for this query, then its profile facts.

        Profile facts (allergies, budget, skin type, past treatments, preferences) follow the query's hits
        whatever the query: "明天下午能来吗" says nothing of an allergy the reply must still respect.
        """
        window, memories, profile = await asyncio.gather(
            self._window.window(tenant_id, thread_id),
            self.search(tenant_id, query, thread_id, k),
            self.search(tenant_id, PROFILE_QUERY, thread_id, k),
        )
        seen = {hit.memory.memory_id for hit in memories}
        standing = [hit for hit in profile if hit.memory.memory_type == "episodic" and hit.memory.memory_id not in seen]
        return Recall(window=window, memories=memories + standing)

    async def remember_turn(self, tenant_id: str, thread_id: str, messages: list[TurnMessage]) -> list[MemoryRecord]:
        """After the turn's messages were written to the transcript: push them to the window (once),
        store the facts the user stated as episodic memories (each fact once per thread), and summarise
        messages that left the window. Returns the memories it wrote."""
        await self._window.append(tenant_id, thread_id, messages)
        facts = await self._new_facts(tenant_id, thread_id, messages)
        summaries = await self._new_summaries(tenant_id, thread_id)
        await self._write(facts + summaries)
        return facts + summaries

    async def _new_facts(self, tenant_id: str, thread_id: str, messages: list[TurnMessage]) -> list[MemoryRecord]:
        facts = {fact.text: fact for message in messages if message.role == "user" for fact in extract_facts(message.content)}
        ids = {text: _derived_id(tenant_id, thread_id, "fact", text) for text in facts}
        known = {record.memory_id for record in await self._longterm.get(tenant_id, list(ids.values()))}
        now = _now()
        return [
            MemoryRecord(
                memory_id=ids[text],
                tenant_id=tenant_id,
                thread_id=thread_id,
                text=text,
                memory_type="episodic",
                tags=fact.tags,
                importance=fact.importance,
                created_at=now,
            )
            for text, fact in facts.items()
            if ids[text] not in known
        ]

    async def _new_summaries(self, tenant_id: str, thread_id: str) -> list[MemoryRecord]:
        """Summaries of the chunks of ``summary_chunk_messages`` that have wholly left the window and
        have none yet (each chunk's summary has a stable id, so it is written once)."""
        chunk = self._settings.summary_chunk_messages
        departed = await self._transcript.count(tenant_id, thread_id) - self._settings.window_size
        ends = list(range(departed // chunk * chunk, 0, -chunk))[:MAX_SUMMARIES_PER_TURN]
        ids = {end: _derived_id(tenant_id, thread_id, "summary", str(end)) for end in ends}
        known = {record.memory_id for record in await self._longterm.get(tenant_id, list(ids.values()))}
        summaries = []
        for end in sorted(end for end in ends if ids[end] not in known):
            text = await self._summary(await self._transcript.read(tenant_id, thread_id, end - chunk, chunk))
            if text:
                summaries.append(
                    MemoryRecord(
                        memory_id=ids[end],
                        tenant_id=tenant_id,
                        thread_id=thread_id,
                        text=text,
                        memory_type="summary",
                        tags=["summary"],
                        importance=SUMMARY_IMPORTANCE,
                        created_at=_now(),
                    )
                )
        return summaries

    async def _summary(self, messages: list[TurnMessage]) -> str:
        if self._summarise is not None:
            try:
                text = (await self._summarise(messages)).strip()
                if text:
                    return text[:MAX_SUMMARY_CHARS]
            except Exception as exc:  # the LLM is optional here: fall back, never lose the summary
                # The type only: the error's message may quote the turn.
                log.warning("summariser failed, using the extractive summary: %s", type(exc).__name__)
        return extractive_summary(messages)

    async def _write(self, records: list[MemoryRecord]) -> None:
        if not records:
            return
        vectors = await self._embedder.embed([record.text for record in records])
        rows = [
            VectorRow(record.memory_id, record.tenant_id, record.thread_id, vector) for record, vector in zip(records, vectors)
        ]
        await asyncio.gather(self._longterm.add(records), self._vectors.upsert(rows))

    # ---- lifecycle ---------------------------------------------------------------------------------

    async def check(self) -> dict[str, str]:
        """Backend name -> "ok" or the error (for readiness)."""
        return await check_all({"conversation": self._window, "longterm": self._longterm, "vectors": self._vectors})

    async def close(self) -> None:
        await self._resources.aclose()
