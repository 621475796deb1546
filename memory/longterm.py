"""The long-term index: full-text memories and summaries, relevance-ranked, always filtered by tenant.

Backends: SQLite FTS5 (embedded default, ``memory.fts``) and Elasticsearch (``memory.elastic``).
It holds the memory records themselves; the vector store only holds their ids.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

from memory import elastic
from memory.fts import TOKENIZE, SqliteFile, match_expression, scope_token, terms_column
from memory.settings import MemorySettings
from memory.types import MemoryRecord, MemoryType


class LongTermIndex(Protocol):
    name: str

    async def add(self, records: list[MemoryRecord]) -> None:
        """Store (or replace, by memory_id) the records."""
        ...

    async def search(
        self,
        tenant_id: str,
        query: str,
        thread_id: str | None = None,
        k: int = 5,
        memory_types: Sequence[MemoryType] | None = None,
    ) -> list[tuple[MemoryRecord, float]]:
        """Best first; the score is the backend's relevance (higher is better)."""
        ...

    async def delete(self, tenant_id: str, thread_id: str, memory_id: str) -> bool:
        """False when there is no such memory in that tenant's thread."""
        ...

    async def get(self, tenant_id: str, memory_ids: Sequence[str]) -> list[MemoryRecord]:
        """The tenant's records among these ids, in the order asked; unknown ids are left out."""
        ...

    async def ids(self, tenant_id: str, after: str, limit: int) -> list[str]:
        """The tenant's memory ids above ``after``, ascending: every memory, page by page (a re-index)."""
        ...

    async def listed(self, tenant_id: str, thread_id: str | None, before: datetime | None, limit: int) -> list[MemoryRecord]:
        """Up to ``limit`` of the tenant's records (of one thread, created before ``before``), oldest first."""
        ...

    async def remove(self, tenant_id: str, memory_ids: Sequence[str]) -> int:
        """Deletes the tenant's records among these ids; how many there were."""
        ...

    async def check(self) -> str: ...

    async def close(self) -> None: ...


_SQLITE_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS memories (
    rowid INTEGER PRIMARY KEY,
    memory_id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    text TEXT NOT NULL,
    memory_type TEXT NOT NULL,
    tags TEXT NOT NULL,
    importance REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS memories_tenant_thread ON memories (tenant_id, thread_id);
CREATE INDEX IF NOT EXISTS memories_tenant_created ON memories (tenant_id, created_at);
CREATE VIRTUAL TABLE IF NOT EXISTS memory_terms USING fts5(scope, terms, tokenize='{TOKENIZE}');
"""
_COLUMNS = "m.memory_id, m.tenant_id, m.thread_id, m.text, m.memory_type, m.tags, m.importance, m.created_at"


def _record(row: sqlite3.Row | tuple[Any, ...]) -> MemoryRecord:
    memory_id, tenant_id, thread_id, text, memory_type, tags, importance, created_at = row[:8]
    return MemoryRecord(
        memory_id=memory_id,
        tenant_id=tenant_id,
        thread_id=thread_id,
        text=text,
        memory_type=memory_type,
        tags=json.loads(tags),
        importance=importance,
        created_at=datetime.fromisoformat(created_at),
    )


def _scopes(record: MemoryRecord) -> list[str]:
    """The tokens a memory is filtered by: its tenant, its tenant's thread, its type."""
    return [
        scope_token(record.tenant_id),
        scope_token(record.tenant_id, record.thread_id),
        scope_token("memory_type", record.memory_type),
    ]


class SqliteLongTermIndex:
    """SQLite FTS5 under the data dir; see ``memory.fts`` for how Chinese is tokenized and tenants filtered."""

    name = "sqlite_fts"

    def __init__(self, file: SqliteFile) -> None:
        self._db = file

    @classmethod
    def open(cls, settings: MemorySettings) -> SqliteLongTermIndex:
        return cls(SqliteFile(settings.fts_path("memory"), _SQLITE_SCHEMA))

    async def add(self, records: list[MemoryRecord]) -> None:
        def write(connection: sqlite3.Connection) -> None:
            for record in records:
                old = connection.execute(
                    "DELETE FROM memories WHERE memory_id = ? AND tenant_id = ? RETURNING rowid",
                    (record.memory_id, record.tenant_id),
                ).fetchone()
                if old:
                    connection.execute("DELETE FROM memory_terms WHERE rowid = ?", old)
                rowid = connection.execute(
                    "INSERT INTO memories (memory_id, tenant_id, thread_id, text, memory_type, tags, importance, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING rowid",
                    (
                        record.memory_id,
                        record.tenant_id,
                        record.thread_id,
                        record.text,
                        record.memory_type,
                        json.dumps(record.tags, ensure_ascii=False),
                        record.importance,
                        record.created_at.isoformat(),
                    ),
                ).fetchone()[0]
                connection.execute(
                    "INSERT INTO memory_terms (rowid, scope, terms) VALUES (?, ?, ?)",
                    (rowid, " ".join(_scopes(record)), terms_column(record.text, *record.tags)),
                )

        await self._db.transaction(write)

    async def search(
        self,
        tenant_id: str,
        query: str,
        thread_id: str | None = None,
        k: int = 5,
        memory_types: Sequence[MemoryType] | None = None,
    ) -> list[tuple[MemoryRecord, float]]:
        scopes: list[str | list[str]] = [scope_token(tenant_id) if thread_id is None else scope_token(tenant_id, thread_id)]
        if memory_types:
            scopes.append([scope_token("memory_type", kind) for kind in memory_types])
        match = match_expression(query, scopes)
        if match is None or k <= 0:
            return []
        sql = (
            f"SELECT {_COLUMNS}, -hits.score FROM ("
            " SELECT rowid, bm25(memory_terms, 0.0, 1.0) AS score FROM memory_terms WHERE memory_terms MATCH ?"
            " ORDER BY score LIMIT ?"
            ") AS hits JOIN memories m ON m.rowid = hits.rowid WHERE m.tenant_id = ?"
            " ORDER BY hits.score, m.importance DESC, m.created_at DESC"
        )
        rows = await self._db.run(lambda connection: connection.execute(sql, (match, k, tenant_id)).fetchall())
        return [(_record(row), float(row[8])) for row in rows]

    async def delete(self, tenant_id: str, thread_id: str, memory_id: str) -> bool:
        def remove(connection: sqlite3.Connection) -> bool:
            row = connection.execute(
                "DELETE FROM memories WHERE memory_id = ? AND tenant_id = ? AND thread_id = ? RETURNING rowid",
                (memory_id, tenant_id, thread_id),
            ).fetchone()
            if row:
                connection.execute("DELETE FROM memory_terms WHERE rowid = ?", row)
            return row is not None

        return await self._db.transaction(remove)

    async def get(self, tenant_id: str, memory_ids: Sequence[str]) -> list[MemoryRecord]:
        if not memory_ids:
            return []
        sql = f"SELECT {_COLUMNS} FROM memories m WHERE m.tenant_id = ? AND m.memory_id IN ({', '.join('?' * len(memory_ids))})"
        rows = await self._db.run(lambda connection: connection.execute(sql, (tenant_id, *memory_ids)).fetchall())
        found = {row[0]: _record(row) for row in rows}
        return [found[memory_id] for memory_id in dict.fromkeys(memory_ids) if memory_id in found]

    async def ids(self, tenant_id: str, after: str, limit: int) -> list[str]:
        sql = "SELECT memory_id FROM memories WHERE tenant_id = ? AND memory_id > ? ORDER BY memory_id LIMIT ?"
        rows = await self._db.run(lambda connection: connection.execute(sql, (tenant_id, after, limit)).fetchall())
        return [row[0] for row in rows]

    async def listed(self, tenant_id: str, thread_id: str | None, before: datetime | None, limit: int) -> list[MemoryRecord]:
        where, params = ["m.tenant_id = ?"], [tenant_id]
        if thread_id is not None:
            where.append("m.thread_id = ?")
            params.append(thread_id)
        if before is not None:  # created_at is UTC ISO 8601 text: it sorts as it reads
            where.append("m.created_at < ?")
            params.append(before.astimezone(timezone.utc).isoformat())
        sql = f"SELECT {_COLUMNS} FROM memories m WHERE {' AND '.join(where)} ORDER BY m.created_at, m.memory_id LIMIT ?"
        rows = await self._db.run(lambda connection: connection.execute(sql, (*params, limit)).fetchall())
        return [_record(row) for row in rows]

    async def remove(self, tenant_id: str, memory_ids: Sequence[str]) -> int:
        if not memory_ids:
            return 0

        def remove(connection: sqlite3.Connection) -> int:
            marks = ", ".join("?" * len(memory_ids))
            rows = connection.execute(
                f"DELETE FROM memories WHERE tenant_id = ? AND memory_id IN ({marks}) RETURNING rowid", (tenant_id, *memory_ids)
            ).fetchall()
            connection.executemany("DELETE FROM memory_terms WHERE rowid = ?", rows)
            return len(rows)

        return await self._db.transaction(remove)

    async def check(self) -> str:
        return await self._db.check()

    async def close(self) -> None:
        self._db.close()


_ES_PROPERTIES: dict[str, Any] = {
    "memory_id": elastic.KEYWORD,
    "tenant_id": elastic.KEYWORD,
    "thread_id": elastic.KEYWORD,
    "text": elastic.TEXT,
    "memory_type": elastic.KEYWORD,
    "tags": {**elastic.KEYWORD, "fields": {"text": elastic.TEXT}},
    "importance": {"type": "float"},
    "created_at": {"type": "date"},
}


class ElasticLongTermIndex:
    """One Elasticsearch index ``<prefix>-memories``; documents have id memory_id and routing tenant_id."""

    name = "elasticsearch"

    def __init__(self, client: Any, index: str) -> None:
        self._es = client
        self._index = index

    @classmethod
    async def open(cls, settings: MemorySettings) -> ElasticLongTermIndex:
        index = settings.index_name("memory")
        return cls(await elastic.open_index(settings, index, _ES_PROPERTIES), index)

    async def add(self, records: list[MemoryRecord]) -> None:
        if not records:
            return
        operations: list[dict[str, Any]] = []
        for record in records:
            operations.append({"index": {"_index": self._index, "_id": record.memory_id, "routing": record.tenant_id}})
            operations.append(record.model_dump(mode="json"))
        elastic.raise_bulk_errors(await self._es.bulk(operations=operations, refresh="wait_for"))

    async def search(
        self,
        tenant_id: str,
        query: str,
        thread_id: str | None = None,
        k: int = 5,
        memory_types: Sequence[MemoryType] | None = None,
    ) -> list[tuple[MemoryRecord, float]]:
        if not query.strip() or k <= 0:
            return []
        filters: list[dict[str, Any]] = [{"term": {"tenant_id": tenant_id}}]
        if thread_id is not None:
            filters.append({"term": {"thread_id": thread_id}})
        if memory_types:
            filters.append({"terms": {"memory_type": list(memory_types)}})
        response = await self._es.search(
            index=self._index,
            routing=tenant_id,
            size=k,
            query={"bool": {"must": {"multi_match": {"query": query, "fields": ["text", "tags.text^0.5"]}}, "filter": filters}},
            sort=["_score", {"importance": "desc"}, {"created_at": "desc"}],
            track_scores=True,
        )
        return [(MemoryRecord.model_validate(hit["_source"]), float(hit["_score"])) for hit in response["hits"]["hits"]]

    async def delete(self, tenant_id: str, thread_id: str, memory_id: str) -> bool:
        response = await self._es.delete_by_query(
            index=self._index,
            routing=tenant_id,
            refresh=True,
            query={
                "bool": {
                    "filter": [
                        {"ids": {"values": [memory_id]}},
                        {"term": {"tenant_id": tenant_id}},
                        {"term": {"thread_id": thread_id}},
                    ]
                }
            },
        )
        return response["deleted"] > 0

    async def get(self, tenant_id: str, memory_ids: Sequence[str]) -> list[MemoryRecord]:
        if not memory_ids:
            return []
        response = await self._es.mget(index=self._index, ids=list(dict.fromkeys(memory_ids)), routing=tenant_id)
        records = [MemoryRecord.model_validate(doc["_source"]) for doc in response["docs"] if doc.get("found")]
        return [record for record in records if record.tenant_id == tenant_id]

    async def ids(self, tenant_id: str, after: str, limit: int) -> list[str]:
        response = await self._es.search(
            index=self._index, routing=tenant_id, size=limit, source=False, sort=[{"memory_id": "asc"}],
            query={"bool": {"filter": [{"term": {"tenant_id": tenant_id}}, {"range": {"memory_id": {"gt": after}}}]}},
        )
        return [hit["_id"] for hit in response["hits"]["hits"]]

    async def listed(self, tenant_id: str, thread_id: str | None, before: datetime | None, limit: int) -> list[MemoryRecord]:
        filters: list[dict[str, Any]] = [{"term": {"tenant_id": tenant_id}}]
        if thread_id is not None:
            filters.append({"term": {"thread_id": thread_id}})
        if before is not None:
            filters.append({"range": {"created_at": {"lt": before.isoformat()}}})
        response = await self._es.search(index=self._index, routing=tenant_id, size=limit, query={"bool": {"filter": filters}},
                                         sort=[{"created_at": "asc"}, {"memory_id": "asc"}])
        return [MemoryRecord.model_validate(hit["_source"]) for hit in response["hits"]["hits"]]

    async def remove(self, tenant_id: str, memory_ids: Sequence[str]) -> int:
        if not memory_ids:
            return 0
        response = await self._es.delete_by_query(
            index=self._index, routing=tenant_id, refresh=True,
            query={"bool": {"filter": [{"ids": {"values": list(memory_ids)}}, {"term": {"tenant_id": tenant_id}}]}},
        )
        return int(response["deleted"])

    async def check(self) -> str:
        return await elastic.check(self._es)

    async def close(self) -> None:
        await self._es.close()


async def open_longterm_index(settings: MemorySettings) -> SqliteLongTermIndex | ElasticLongTermIndex:
    if settings.elasticsearch_url:
        return await ElasticLongTermIndex.open(settings)
    return SqliteLongTermIndex.open(settings)
