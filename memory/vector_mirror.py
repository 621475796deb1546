"""``ScopeMirror``: the rows of small search scopes (one thread's memories, one tenant's catalog) held in memory, so a
per-turn search over them is an exact cosine product in this process instead of a gRPC round trip to Milvus Lite.

Only for a Milvus Lite file: its owner process is the only writer (the file is locked), so when every write of that
store also goes through the mirror, the mirror is never stale. A Milvus server has other writers; it is never
mirrored. Results equal Milvus Lite's: its index there is FLAT (exact cosine) as well.

A scope is loaded on its first search with one Milvus search for more rows than a scope may hold; a scope with more rows than ``max_scope_rows`` is marked large
and left to Milvus. Scopes are evicted least recently used past ``max_rows`` in all. A write that lands while a scope
is loading is replayed onto it when the load installs, so a load never hides a write it raced with.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

Scope = tuple[str, str | None]  # (tenant_id, thread_id or None for the whole tenant)


class VectorRow(NamedTuple):
    """A row of a vector collection (``memory.vectors``)."""

    id: str
    tenant_id: str
    thread_id: str
    vector: list[float]


class VectorHit(NamedTuple):
    id: str
    similarity: float  # cosine


@dataclass
class _Rows:
    """One scope's rows: ids and unit vectors (row i of ``matrix`` is ``ids[i]``)."""

    ids: list[str] = field(default_factory=list)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))

    def put(self, rows: list[tuple[str, np.ndarray]]) -> None:
        if not rows:
            return
        fresh = dict(rows)
        keep = [i for i, row_id in enumerate(self.ids) if row_id not in fresh]
        kept = self.matrix[keep] if self.ids else np.zeros((0, len(rows[0][1])), dtype=np.float32)
        self.ids = [self.ids[i] for i in keep] + list(fresh)
        self.matrix = np.vstack([kept, np.stack(list(fresh.values()))])

    def drop(self, ids: set[str]) -> None:
        keep = [i for i, row_id in enumerate(self.ids) if row_id not in ids]
        if len(keep) != len(self.ids):
            self.ids, self.matrix = [self.ids[i] for i in keep], self.matrix[keep]


def _unit(vector: Iterable[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm else array


def _scopes(row: VectorRow) -> tuple[Scope, Scope]:
    return (row.tenant_id, None), (row.tenant_id, row.thread_id)


class ScopeMirror:
    """Thread-safe: writes are applied from the store's worker threads, searches run on the event loop."""

    def __init__(self, max_rows: int, max_scope_rows: int) -> None:
        self.max_rows, self.max_scope_rows = max_rows, max_scope_rows
        self._lock = threading.Lock()
        self._resident: OrderedDict[Scope, _Rows | None] = OrderedDict()  # None: too large to mirror
        self._loading: dict[Scope, list[Callable[[_Rows], None]]] = {}
        self._rows = 0

    @property
    def enabled(self) -> bool:
        return self.max_rows > 0 and self.max_scope_rows > 0

    def search(self, scope: Scope, vector: list[float], k: int) -> list[VectorHit] | None:
        """The scope's top k by cosine; None when the scope is not resident (or large): ask Milvus."""
        with self._lock:
            rows = self._resident.get(scope)
            if rows is None:
                return None
            self._resident.move_to_end(scope)
            ids, matrix = rows.ids, rows.matrix
        if not ids:
            return []
        similarity = matrix @ _unit(vector)
        top = np.argsort(-similarity, kind="stable")[:k]
        return [VectorHit(ids[i], float(similarity[i])) for i in top]

    def claim_load(self, scope: Scope) -> bool:
        """Whether the caller should load this scope (it is not resident, known large, or being loaded); if so, writes
        from now on are kept for ``install``, which the caller must call (or ``abandon``)."""
        with self._lock:
            if not self.enabled or scope in self._resident or scope in self._loading:
                return False
            self._loading[scope] = []
            return True

    def install(self, scope: Scope, rows: list[VectorRow] | None) -> None:
        """The scope's rows as the load found them (None: more than ``max_scope_rows``), plus the writes
        that landed since ``claim_load``."""
        with self._lock:
            replay = self._loading.pop(scope, [])
            if rows is None:
                self._resident[scope] = None
                self._evict()
                return
            mirrored = _Rows()
            mirrored.put([(row.id, _unit(row.vector)) for row in rows])
            for write in replay:
                write(mirrored)
            self._rows += len(mirrored.ids)
            self._resident[scope] = mirrored
            self._evict()

    def abandon(self, scope: Scope) -> None:
        with self._lock:
            self._loading.pop(scope, None)

    def upsert(self, rows: list[VectorRow]) -> None:
        """After the store wrote these rows: an id moves out of any mirrored scope of its tenant it was in before."""
        if not rows:
            return
        with self._lock:
            tenants = {row.tenant_id for row in rows}
            ids = {row.id for row in rows}
            for scope in self._scopes_of(tenants):
                self._apply(scope, lambda mirrored: mirrored.drop(ids))
            by_scope: dict[Scope, list[tuple[str, np.ndarray]]] = {}
            for row in rows:
                for scope in _scopes(row):
                    by_scope.setdefault(scope, []).append((row.id, _unit(row.vector)))
            for scope, entries in by_scope.items():
                self._apply(scope, lambda mirrored, entries=entries: mirrored.put(entries))
            self._evict()

    def delete(self, tenant_id: str, ids: list[str]) -> None:
        gone = set(ids)
        with self._lock:
            for scope in self._scopes_of({tenant_id}):
                self._apply(scope, lambda mirrored: mirrored.drop(gone))

    def _scopes_of(self, tenants: set[str]) -> list[Scope]:
        return [scope for scope in [*self._resident, *self._loading] if scope[0] in tenants]

    def _apply(self, scope: Scope, write: Callable[[_Rows], None]) -> None:
        if scope in self._loading:
            self._loading[scope].append(write)
        mirrored = self._resident.get(scope)
        if mirrored is not None:
            before = len(mirrored.ids)
            write(mirrored)
            self._rows += len(mirrored.ids) - before
            if len(mirrored.ids) > self.max_scope_rows:  # grew too large: Milvus answers it from now on
                self._rows -= len(mirrored.ids)
                self._resident[scope] = None

    def _evict(self) -> None:
        while self._rows > self.max_rows or len(self._resident) > self.max_rows:
            _, evicted = self._resident.popitem(last=False)
            self._rows -= len(evicted.ids) if evicted is not None else 0
