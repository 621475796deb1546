"""The in-memory mirror of a Milvus Lite collection's small scopes: it answers what Milvus Lite answers, never misses a
write that raced with its load, and leaves large or evicted scopes to Milvus."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from memory.embeddings import OfflineEmbedder
from memory.vector_mirror import ScopeMirror, VectorRow
from memory.vectors import VectorStore

DIM = 32


def _vector(rng: random.Random) -> list[float]:
    return [rng.uniform(-1, 1) for _ in range(DIM)]


def _row(rng: random.Random, n: int, thread: str, tenant: str = "glow") -> VectorRow:
    return VectorRow(f"m{n}", tenant, thread, _vector(rng))


async def test_mirrored_searches_rank_and_score_as_milvus_lite_does_through_upserts_moves_and_deletes(tmp_path: Path) -> None:
    rng = random.Random(7)
    embedder = OfflineEmbedder(DIM)
    plain = await VectorStore.open(str(tmp_path / "plain.db"), "memories", embedder)
    mirrored = await VectorStore.open(str(tmp_path / "mirrored.db"), "memories", embedder, mirror=(10_000, 40))
    threads = ["t1", "t2", "t3", ""]
    rows = [_row(rng, n, rng.choice(threads)) for n in range(60)] + [_row(rng, 100 + n, "t1", "other") for n in range(5)]

    async def both(write: str, *args: object) -> None:
        for store in (plain, mirrored):
            await getattr(store, write)(*args)

    scopes = [("glow", "t1"), ("glow", "t2"), ("glow", ""), ("glow", None), ("other", "t1"), ("nobody", None)]

    async def assert_same_answers() -> None:
        for _ in range(6):
            query = _vector(rng)
            for tenant, thread in scopes:
                expected = await plain.search(tenant, query, 5, thread)
                got = await mirrored.search(tenant, query, 5, thread)
                assert [hit.id for hit in got] == [hit.id for hit in expected], (tenant, thread)
                assert [hit.similarity for hit in got] == pytest.approx([hit.similarity for hit in expected], abs=1e-5)

    try:
        await both("upsert", rows[:30])
        await assert_same_answers()  # loads every scope searched (the tenant's 30 rows fit, its scopes too)
        assert all(mirrored._mirror.search(scope, _vector(rng), 1) is not None for scope in scopes)  # all in memory
        await both("upsert", rows[30:])  # the tenant scope grows past 40 rows: Milvus answers it from now on
        moved = [VectorRow(row.id, row.tenant_id, "t2", _vector(rng)) for row in rows[:10]]  # new thread, new vector
        await both("upsert", moved)
        await both("delete", "glow", [row.id for row in rows[10:20]])
        await both("delete", "other", [row.id for row in rows[20:25]])  # another tenant's delete touches nothing here
        await assert_same_answers()
    finally:
        await plain.close()
        await mirrored.close()


def test_a_write_that_lands_while_a_scope_loads_is_in_the_scope_once_it_is_installed() -> None:
    rng = random.Random(1)
    mirror = ScopeMirror(max_rows=100, max_scope_rows=10)
    scope = ("glow", "t1")
    stale, late, gone = _row(rng, 1, "t1"), _row(rng, 2, "t1"), _row(rng, 3, "t1")
    assert mirror.search(scope, late.vector, 3) is None and mirror.claim_load(scope)
    assert not mirror.claim_load(scope)  # one load at a time: meanwhile searches go to Milvus
    mirror.upsert([late])  # written after the load's query ran
    mirror.delete("glow", [gone.id])  # deleted after it
    mirror.install(scope, [stale, gone])  # what the query found
    hits = mirror.search(scope, late.vector, 3)
    assert hits is not None and [hit.id for hit in hits][0] == late.id and {hit.id for hit in hits} == {late.id, stale.id}


def test_large_scopes_and_evicted_ones_are_left_to_milvus() -> None:
    rng = random.Random(2)
    mirror = ScopeMirror(max_rows=6, max_scope_rows=3)
    assert mirror.claim_load(("glow", "big"))
    mirror.install(("glow", "big"), None)  # the query found more than 3 rows
    assert mirror.search(("glow", "big"), _vector(rng), 1) is None and not mirror.claim_load(("glow", "big"))

    for thread in ("a", "b", "c"):
        assert mirror.claim_load(("glow", thread))
        mirror.install(("glow", thread), [_row(rng, n, thread) for n in range(2)])
    assert mirror.search(("glow", "a"), _vector(rng), 1) is not None  # "a" is now the most recently used
    assert mirror.claim_load(("glow", "d"))
    mirror.install(("glow", "d"), [_row(rng, 9, "d")])  # 7 rows: the least recently used scope ("b") goes
    assert mirror.search(("glow", "b"), _vector(rng), 1) is None
    assert all(mirror.search(("glow", thread), _vector(rng), 1) for thread in ("a", "c", "d"))

    mirror.upsert([_row(rng, 20 + n, "c") for n in range(2)])  # "c" grows past 3 rows: no longer mirrored
    assert mirror.search(("glow", "c"), _vector(rng), 1) is None


def test_a_disabled_mirror_loads_nothing() -> None:
    mirror = ScopeMirror(max_rows=0, max_scope_rows=0)
    assert not mirror.claim_load(("glow", "t1")) and mirror.search(("glow", "t1"), [1.0] * DIM, 1) is None
