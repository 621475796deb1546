"""The Milvus vector store on Milvus Lite (with and without its in-memory mirror) and on a Milvus server (MAS_TEST_MILVUS_URI, else the embedded
``milvus`` 2.3.5 server): tenant and thread filters with awkward ids, the embedder recorded with the
collection, and the Lite file lock."""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from milvus_lite.db import LOCK_FILENAME

from memory.embeddings import OfflineEmbedder
from memory.vectors import EmbeddingDimensionMismatch, EmbeddingMismatch, VectorRow, VectorStore, VectorStoreLocked, milvus_string

EMBEDDER = OfflineEmbedder(64)


@pytest.fixture(scope="module", params=["lite", "lite-mirrored", "server"])
async def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[VectorStore]:
    """Lite, Lite with small scopes searched in memory (up to 16 rows a scope: larger ones still go to Lite), a server."""
    if request.param.startswith("lite"):
        uri = str(tmp_path_factory.mktemp("vectors") / "vectors.db")
    else:
        uri = request.getfixturevalue("milvus_server").uri
    collection = f"test_{uuid.uuid4().hex[:8]}"
    vectors = await VectorStore.open(uri, collection, EMBEDDER, mirror=(1000, 16) if request.param == "lite-mirrored" else (0, 0))
    yield vectors
    if request.param == "server":
        vectors._client.drop_collection(collection)
    await vectors.close()


async def rows(tenant: str, thread: str, texts: dict[str, str]) -> list[VectorRow]:
    embedded = await EMBEDDER.embed(list(texts.values()))
    return [VectorRow(id_, tenant, thread, vector) for id_, vector in zip(texts, embedded)]


async def nearest(store: VectorStore, tenant: str, text: str, thread: str | None = None, k: int = 3) -> list[str]:
    (vector,) = await EMBEDDER.embed([text])
    return [hit.id for hit in await store.search(tenant, vector, k, thread)]


async def test_search_ranks_by_cosine_within_the_tenant_and_thread(store: VectorStore, tenant: str) -> None:
    await store.upsert(
        await rows(tenant, "t1", {f"{tenant}-a": "对酒精过敏", f"{tenant}-b": "预算五千", f"{tenant}-c": "喜欢哑光口红"})
    )
    await store.upsert(await rows(tenant, "t2", {f"{tenant}-d": "对酒精过敏，用了起红疹"}))
    await store.upsert(await rows(tenant + "-other", "t1", {f"{tenant}-e": "对酒精过敏"}))
    (vector,) = await EMBEDDER.embed(["对酒精过敏"])
    hits = await store.search(tenant, vector, 2)
    assert [hit.id for hit in hits] == [f"{tenant}-a", f"{tenant}-d"] and hits[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert (await nearest(store, tenant, "对酒精过敏", "t2")) == [f"{tenant}-d"]
    assert (await nearest(store, tenant + "-other", "对酒精过敏")) == [f"{tenant}-e"]
    assert await nearest(store, tenant + "-nobody", "对酒精过敏") == []


@pytest.mark.parametrize("awkward", ['a"b', "c'd", "e\\f", '过敏" or tenant_id != "', "new\nline"])
async def test_ids_with_quotes_backslashes_and_newlines_are_matched_exactly(
    store: VectorStore, tenant: str, awkward: str
) -> None:
    await store.upsert(await rows(tenant + awkward, awkward, {f"{tenant}-x{len(awkward)}": "做过热玛吉"}))
    await store.upsert(await rows(tenant, "plain", {f"{tenant}-plain{len(awkward)}": "做过热玛吉"}))
    assert await nearest(store, tenant + awkward, "做过热玛吉", awkward) == [f"{tenant}-x{len(awkward)}"]
    assert await nearest(store, tenant + awkward, "做过热玛吉", "plain") == []


def test_filter_literals_are_escaped() -> None:
    assert milvus_string('a"b\\c') == '"a\\"b\\\\c"' and milvus_string("过敏") == '"过敏"'


async def test_upsert_replaces_and_delete_is_scoped_to_the_tenant(store: VectorStore, tenant: str) -> None:
    key = f"{tenant}-p"
    await store.upsert(await rows(tenant, "", {key: "补水面膜"}))
    await store.upsert(await rows(tenant, "", {key: "防晒霜"}))
    assert await nearest(store, tenant, "防晒霜", k=5) == [key]
    (vector,) = await EMBEDDER.embed(["防晒霜"])
    assert (await store.search(tenant, vector, 5))[0].similarity == pytest.approx(1.0, abs=1e-4)
    await store.delete(tenant + "-other", [key])
    assert await nearest(store, tenant, "防晒霜") == [key]
    await store.delete(tenant, [key])
    assert await nearest(store, tenant, "防晒霜") == []


async def test_concurrent_writes_all_land(store: VectorStore, tenant: str) -> None:
    """Many turns write memories at once (background memory writes under load): none is lost."""
    texts = [f"第{n}条记忆：预算{n}千" for n in range(24)]
    batches = [await rows(tenant, "busy", {f"{tenant}-w{n}": text}) for n, text in enumerate(texts)]
    await asyncio.gather(*(store.upsert(batch) for batch in batches))
    await asyncio.gather(*(store.delete(tenant, [f"{tenant}-w{n}"]) for n in range(0, 24, 2)))
    (vector,) = await EMBEDDER.embed(["预算"])
    found = {hit.id for hit in await store.search(tenant, vector, 50, "busy")}
    assert found == {f"{tenant}-w{n}" for n in range(1, 24, 2)}


async def test_check_reports_ok(store: VectorStore) -> None:
    assert await store.check() == "ok"


async def test_a_different_embedder_dimension_is_a_clear_error(tmp_path: Path) -> None:
    uri = str(tmp_path / "v.db")
    await (await VectorStore.open(uri, "memories", OfflineEmbedder(64))).close()
    with pytest.raises(EmbeddingDimensionMismatch) as error:
        await VectorStore.open(uri, "memories", OfflineEmbedder(32))
    message = str(error.value)
    assert "64-dimensional" in message and "32-dimensional" in message and "MAS_EMBEDDER" in message
    reopened = await VectorStore.open(uri, "memories", OfflineEmbedder(64))  # the right embedder still opens it
    await reopened.close()


async def test_another_embedder_of_the_same_dimension_is_refused_too(tmp_path: Path) -> None:
    class Renamed(OfflineEmbedder):
        def __init__(self) -> None:
            super().__init__(64)
            self.name = "openai:text-embedding-3-small"

    uri = str(tmp_path / "v.db")
    await (await VectorStore.open(uri, "memories", OfflineEmbedder(64))).close()
    with pytest.raises(EmbeddingMismatch, match="was built by embedder 'offline-hash-v1'"):
        await VectorStore.open(uri, "memories", Renamed())


WRITER_KILLED_AFTER_WRITING = """
import asyncio, os, signal, sys
from memory.embeddings import OfflineEmbedder
from memory.vectors import VectorRow, VectorStore

async def main():
    embedder = OfflineEmbedder(64)
    store = await VectorStore.open(sys.argv[1], "memories", embedder)
    (vector,) = await embedder.embed(["对酒精过敏"])
    await store.upsert([VectorRow("kept", "glow", "t1", vector)])
    await store.delete("glow", ["gone"])
    os.kill(os.getpid(), signal.SIGKILL)  # no flush, no close

asyncio.run(main())
"""


async def test_lite_writes_survive_a_killed_process_without_a_flush(tmp_path: Path) -> None:
    """Writes are not flushed one by one (Lite's write-ahead log holds them): a SIGKILL right after loses none."""
    uri = str(tmp_path / "killed.db")
    store = await VectorStore.open(uri, "memories", EMBEDDER)
    await store.upsert(await rows("glow", "t1", {"gone": "预算五千"}))
    await store.close()
    writer = subprocess.run([sys.executable, "-c", WRITER_KILLED_AFTER_WRITING, uri], capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert writer.returncode == -9, writer.stderr[-2000:]
    store = await VectorStore.open(uri, "memories", EMBEDDER)
    try:
        assert await nearest(store, "glow", "对酒精过敏", "t1", k=5) == ["kept"]
    finally:
        await store.close()


OWNER = """
import sys
from pymilvus import MilvusClient
client = MilvusClient(sys.argv[1])
print("owned", flush=True)
sys.stdin.read()
"""


async def test_a_lite_file_owned_by_another_process_is_a_clear_error_and_close_releases_it(tmp_path: Path) -> None:
    uri = str(tmp_path / "owned.db")
    owner = subprocess.Popen([sys.executable, "-c", OWNER, uri], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "owned"
        with pytest.raises(VectorStoreLocked, match="owned by another process: run the owning deployment with one replica"):
            await VectorStore.open(uri, "memories", EMBEDDER)
    finally:
        owner.communicate(timeout=30)
    assert owner.returncode == 0
    store = await VectorStore.open(uri, "memories", EMBEDDER)  # the owner exited: the file is free
    assert lite_lock_is_held(uri)
    await store.close()
    assert not lite_lock_is_held(uri)  # closing let go of the file: another process may own it now


def lite_lock_is_held(uri: str) -> bool:
    """Whether any open file description holds Milvus Lite's lock (flock conflicts even within a process)."""
    descriptor = os.open(Path(uri) / LOCK_FILENAME, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False
