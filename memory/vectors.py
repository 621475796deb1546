"""The vector store: one Milvus collection per kind (memories, products), through ``pymilvus.MilvusClient``.

A collection holds (id, tenant_id, thread_id, vector) rows; tenant_id is the partition key and every
search and delete filters on it. The URI is a Milvus server or a Milvus Lite file. Milvus Lite
serves a file from inside the process that opened it and locks it: a second process gets a clear
``VectorStoreLocked``, which is why the deployment owning a Lite file runs one replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import threading
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memory.embeddings import Embedder
from memory.settings import MILVUS_SERVER_SCHEMES, Kind, MemorySettings
from memory.vector_mirror import Scope, ScopeMirror, VectorHit, VectorRow

if TYPE_CHECKING:  # pymilvus is imported where a store opens: only the replicas holding one pay its ~130 MB
    from pymilvus import MilvusClient

EMBEDDER_PROPERTY = "mas.embedder"
_MAX_ID = 128
_MAX_SCOPE = 512
_BATCH = 1000
MirrorSize = tuple[int, int]  # rows in all, rows of one scope (``memory.vector_mirror``)


class VectorStoreLocked(RuntimeError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"Milvus Lite file {path} is owned by another process: run the owning deployment with one replica "
            "or set MAS_MILVUS_URI to a Milvus server"
        )


class EmbeddingMismatch(RuntimeError):
    """The collection was built by another embedder: its vectors cannot be compared with the new ones."""


class EmbeddingDimensionMismatch(EmbeddingMismatch):
    pass


def _filter(tenant_id: str, thread_id: str | None) -> str:
    scope = f"tenant_id == {milvus_string(tenant_id)}"
    return scope if thread_id is None else f"{scope} and thread_id == {milvus_string(thread_id)}"


def milvus_string(value: str) -> str:
    """A Milvus filter string literal: double-quoted, with quotes, backslashes and control characters escaped."""
    return json.dumps(value, ensure_ascii=False)


# Milvus Lite runs one server per file per process; several stores in a process may share it.
_lite_users: Counter[str] = Counter()
_lite_guard = threading.Lock()


def _is_lite(uri: str) -> bool:
    return not uri.startswith(MILVUS_SERVER_SCHEMES)


def _lite_locked_elsewhere(path: str) -> bool:
    from milvus_lite.db import LOCK_FILENAME  # milvus_lite is imported only where a Lite file is used

    lock_path = Path(path) / LOCK_FILENAME
    if not lock_path.exists():
        return False
    descriptor = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return False
    finally:
        os.close(descriptor)


# pymilvus pings its server every 10 s even when idle; Milvus Lite's embedded server allows one ping per 5 min and
# answers the rest with GOAWAY "too_many_pings", which gRPC logs as errors in every idle replica's output. The server
# is a local child process: a call that fails says all a ping would, so an idle channel sends none.
LITE_GRPC_OPTIONS = {"grpc.keepalive_time_ms": 300_000, "grpc.keepalive_permit_without_calls": 0}


def _connect_lite(path: str) -> MilvusClient:
    from pymilvus import MilvusClient

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with _lite_guard:
        try:
            client = MilvusClient(uri=path, grpc_options=LITE_GRPC_OPTIONS)
        except Exception as exc:
            if _lite_locked_elsewhere(path):
                raise VectorStoreLocked(path) from exc
            raise
        _lite_users[path] += 1
        return client


def _release_lite(path: str) -> None:
    from milvus_lite.server_manager import server_manager_instance

    with _lite_guard:
        _lite_users[path] -= 1
        if _lite_users[path] <= 0:
            del _lite_users[path]
            for key in [key for key in _lite_mirrors if key[0] == path]:
                del _lite_mirrors[key]
            server_manager_instance.release_server(path)


# Stores of one Lite collection in one process share its mirror: each sees the writes of all.
_lite_mirrors: dict[tuple[str, str], ScopeMirror] = {}


def _lite_mirror(path: str, collection: str, mirror: MirrorSize) -> ScopeMirror:
    with _lite_guard:
        return _lite_mirrors.setdefault((path, collection), ScopeMirror(*mirror))


def _upsert_misplaces_partition_keys(client: MilvusClient) -> bool:
    """Whether this is a Milvus server older than 2.4, e.g. the embedded 2.3.5 server of the contract tests.
    Before a late 2.3 patch (milvus#30607), upsert hashed the partition key of a row from its primary key: the
    row landed in another tenant's partition and every search filtered on its tenant missed it (every hit lost).
    A version string that is not ``vX.Y.…`` (a managed service's) is taken for a current server."""
    version = re.match(r"v?(\d+)\.(\d+)\.", client.get_server_version())
    return version is not None and (int(version[1]), int(version[2])) < (2, 4)


class VectorStore:
    """One collection; the blocking ``MilvusClient`` calls run in worker threads."""

    def __init__(self, client: MilvusClient, uri: str, collection: str, mirror: MirrorSize = (0, 0)) -> None:
        self._client = client
        self._uri = uri
        self._collection = collection
        self._lite = _is_lite(uri)
        self._mirror = _lite_mirror(uri, collection, mirror) if self._lite else None
        self._closed = False
        self.name = "milvus_lite" if self._lite else "milvus"
        # Such a server gets a delete by id then an insert instead: the row is missing from searches between the
        # two calls, and two concurrent writes of one id may both land. Current servers and Lite upsert.
        self._delete_then_insert = not self._lite and _upsert_misplaces_partition_keys(client)
        # Milvus Lite fails concurrent write+flush pairs ("current_seq is monotonic"): one at a time there.
        self._writes: contextlib.AbstractAsyncContextManager[Any] = asyncio.Lock() if self._lite else contextlib.nullcontext()
        self._unflushed = False  # Lite: rows written since the last flush

    @classmethod
    async def open(cls, uri: str, collection: str, embedder: Embedder, token: str | None = None,
                   mirror: MirrorSize = (0, 0)) -> VectorStore:
        """Connect and create the collection, or check that it was built by the same embedder. A Lite collection's
        small scopes are searched in memory up to ``mirror`` rows (``memory.vector_mirror``)."""

        def connect() -> VectorStore:
            from pymilvus import MilvusClient

            client = _connect_lite(uri) if _is_lite(uri) else MilvusClient(uri=uri, token=token or "")
            store = cls(client, uri, collection, mirror)
            try:
                store._prepare(embedder)
            except BaseException:
                store._close()
                raise
            return store

        return await asyncio.to_thread(connect)

    @classmethod
    async def for_kind(cls, settings: MemorySettings, kind: Kind, embedder: Embedder) -> VectorStore:
        """The configured collection of this kind (memories, products)."""
        return await cls.open(settings.vector_uri(kind), settings.collection_name(kind), embedder, settings.milvus_token,
                              (settings.vector_mirror_rows, settings.vector_mirror_scope_rows))

    def _prepare(self, embedder: Embedder) -> None:
        from pymilvus import DataType, MilvusClient

        client, name = self._client, self._collection
        if not client.has_collection(name):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=_MAX_ID)
            schema.add_field("tenant_id", DataType.VARCHAR, max_length=_MAX_SCOPE, is_partition_key=True)
            schema.add_field("thread_id", DataType.VARCHAR, max_length=_MAX_SCOPE)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=embedder.dim)
            index = client.prepare_index_params()
            # Lite's AUTOINDEX is HNSW with the tenant/thread filter applied during the graph walk: with a filter
            # as narrow as one thread it missed most of the true top 5 (bench/recall.py: 9% at 100k). FLAT is exact,
            # and no slower at the sizes an embedded file holds; a Milvus server keeps its own AUTOINDEX.
            index_type = "FLAT" if self._lite else "AUTOINDEX"
            index.add_index(field_name="vector", index_type=index_type, metric_type="COSINE")
            client.create_collection(
                name, schema=schema, consistency_level="Strong", properties={EMBEDDER_PROPERTY: embedder.name}
            )
            # Not create_collection(index_params=...): that waits on an API Milvus Lite lacks (AllocTimestamp).
            client.create_index(name, index, sync=False)
            client.load_collection(name)
            return
        description = client.describe_collection(name)
        dim = next(int(field["params"]["dim"]) for field in description["fields"] if field["name"] == "vector")
        built_by = description.get("properties", {}).get(EMBEDDER_PROPERTY)
        fix = (
            f"configure the embedder that built it (MAS_EMBEDDER and its dims), or index into a new collection "
            f"(MAS_MILVUS_COLLECTION_PREFIX){' or remove ' + self._uri if self._lite else ''}"
        )
        if dim != embedder.dim:
            raise EmbeddingDimensionMismatch(
                f"Milvus collection {name!r} at {self._uri} holds {dim}-dimensional vectors (embedder {built_by!r}), "
                f"but the configured embedder {embedder.name!r} makes {embedder.dim}-dimensional ones: {fix}"
            )
        if built_by and built_by != embedder.name:
            raise EmbeddingMismatch(
                f"Milvus collection {name!r} at {self._uri} was built by embedder {built_by!r}, "
                f"but the configured one is {embedder.name!r}: {fix}"
            )
        client.load_collection(name)

    async def upsert(self, rows: list[VectorRow]) -> None:
        """Insert or replace rows by id."""
        if not rows:
            return

        def write() -> None:
            for start in range(0, len(rows), _BATCH):
                batch = [row._asdict() for row in rows[start : start + _BATCH]]
                if self._delete_then_insert:
                    ids = ", ".join(milvus_string(row["id"]) for row in batch)
                    self._client.delete(self._collection, filter=f"id in [{ids}]")
                    self._client.insert(self._collection, data=batch)
                else:
                    self._client.upsert(self._collection, data=batch)
            self._unflushed = self._lite
            if self._mirror:
                self._mirror.upsert(rows)

        async with self._writes:
            await asyncio.to_thread(write)

    async def search(self, tenant_id: str, vector: list[float], k: int, thread_id: str | None = None) -> list[VectorHit]:
        if self._mirror and (hits := await self._mirrored_search((tenant_id, thread_id), vector, k)) is not None:
            return hits
        hits = await self._milvus_search((tenant_id, thread_id), vector, k, ["id"])  # not every field, vector included
        return [VectorHit(hit["id"], float(hit["distance"])) for hit in hits]

    async def _milvus_search(self, scope: Scope, vector: list[float], limit: int, fields: list[str]) -> list[dict[str, Any]]:
        """The scope's top ``limit`` by cosine, with these fields, from Milvus (Lite flushed first when written)."""
        await self._flush_when_written()
        results = await asyncio.to_thread(
            self._client.search,
            self._collection,
            data=[vector],
            limit=limit,
            filter=_filter(*scope),
            search_params={"metric_type": "COSINE"},
            output_fields=fields,
        )
        return list(results[0])

    async def _mirrored_search(self, scope: Scope, vector: list[float], k: int) -> list[VectorHit] | None:
        """The scope's hits from the mirror, loading it first if it is new; None: Milvus answers this one."""
        assert self._mirror is not None
        mirror = self._mirror
        if (hits := mirror.search(scope, vector, k)) is not None or not mirror.claim_load(scope):
            return hits
        try:
            # A search for more rows than the scope may hold returns all of them: ~25 ms on a 60k-row Lite file, where
            # a filtered query (no index on the filter) scans the file in Python, 0.3-0.6 s.
            found = await self._milvus_search(scope, vector, mirror.max_scope_rows + 1, ["tenant_id", "thread_id", "vector"])
        except BaseException:
            mirror.abandon(scope)
            raise
        rows = [VectorRow(hit["id"], hit["entity"]["tenant_id"], hit["entity"]["thread_id"], hit["entity"]["vector"])
                for hit in found]
        mirror.install(scope, None if len(rows) > mirror.max_scope_rows else rows)
        return mirror.search(scope, vector, k)

    async def delete(self, tenant_id: str, ids: list[str]) -> int:
        """Deletes the tenant's rows among these ids; how many there were."""
        if not ids:
            return 0

        def remove() -> int:
            removed = 0
            for start in range(0, len(ids), _BATCH):
                batch = ids[start : start + _BATCH]
                scope = f"tenant_id == {milvus_string(tenant_id)} and id in [{', '.join(map(milvus_string, batch))}]"
                # Counted before deleting: a server's delete_count is the number of ids asked for, found or not.
                found = self._client.query(self._collection, filter=scope, output_fields=["id"], limit=len(batch))
                self._client.delete(self._collection, filter=scope)
                removed += len(found)
            self._unflushed = self._lite
            if self._mirror:
                self._mirror.delete(tenant_id, ids)
            return removed

        async with self._writes:
            return await asyncio.to_thread(remove)

    async def delete_thread(self, tenant_id: str, thread_id: str) -> int:
        """Deletes every row of the tenant's thread, whatever the long-term index still knows of it."""
        await self._flush_when_written()
        removed, seen = 0, set[str]()
        while ids := [i for i in await asyncio.to_thread(self._query_ids, _filter(tenant_id, thread_id)) if i not in seen]:
            seen.update(ids)  # never loops on rows a delete did not remove
            removed += await self.delete(tenant_id, ids)
        return removed

    def _query_ids(self, scope: str) -> list[str]:
        return [row["id"] for row in self._client.query(self._collection, filter=scope, output_fields=["id"], limit=_BATCH)]

    async def _flush_when_written(self) -> None:
        """Milvus Lite searches unflushed rows slowly: flush before a search it answers, not after every write (its
        writes are durable before a flush, in its write-ahead log, and the mirror answers most searches). A Milvus
        server searches growing segments fine, and flushing there only makes tiny segments."""
        if self._unflushed:
            async with self._writes:
                if self._unflushed:
                    await asyncio.to_thread(self._client.flush, self._collection)
                    self._unflushed = False

    async def check(self) -> str:
        await asyncio.to_thread(self._client.has_collection, self._collection)
        return "ok"

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._client.close()
        if self._lite:
            _release_lite(self._uri)

    def __repr__(self) -> str:
        return f"VectorStore({self._uri!r}, {self._collection!r})"
