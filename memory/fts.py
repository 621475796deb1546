"""SQLite FTS5 plumbing shared by the embedded keyword indexes (memories, products).

Tokenizing: documents are stored as their ``memory.tokens`` terms (CJK bigrams and unigrams,
Latin words) separated by spaces, in columns with ``tokenize='unicode61'``, which then sees
each term as one token. Plain ``trigram`` cannot match a two-character query such as 过敏 or
预算, and ``unicode61`` alone would make a whole Chinese sentence one token; this way short and
long Chinese queries, and mixed Chinese/English, all match on words, and bm25 ranks by the
query bigrams a document shares (rarer ones weigh more).

Filtering happens inside the full-text index: a ``scope`` column holds hashed tokens for the
tenant, the tenant's thread (and the memory type), so a MATCH only ranks the caller's documents
and only the top k are joined to their rows; the join checks the real tenant id, so a hash
collision could never leak a row.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from memory.tokens import index_terms, query_terms

T = TypeVar("T")
TOKENIZE = "unicode61 remove_diacritics 2"
# A long message yields hundreds of bigrams; past this many, more terms cost time and add noise.
MAX_QUERY_TERMS = 48


class SqliteFile:
    """One connection to one SQLite file, used from worker threads, one call at a time (WAL, so other
    processes can read and write the same file)."""

    def __init__(self, path: Path, schema: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA busy_timeout=5000")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.executescript(schema)
        self._lock = threading.Lock()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return work(self._connection)

        return await asyncio.to_thread(locked)

    async def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def atomic(connection: sqlite3.Connection) -> T:
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return result

        return await self.run(atomic)

    async def check(self) -> str:
        await self.run(lambda connection: connection.execute("SELECT 1").fetchone())
        return "ok"

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def terms_column(*texts: str) -> str:
    """The indexed form of some text: its terms separated by spaces."""
    return " ".join(term for text in texts for term in index_terms(text))


def scope_token(*parts: str) -> str:
    """A single FTS token standing for a tenant (or a tenant's thread)."""
    return "s" + hashlib.blake2b("\x00".join(parts).encode(), digest_size=12).hexdigest()


def match_expression(query: str, scopes: Sequence[str | Sequence[str]]) -> str | None:
    """``scope : "s…" AND scope : ("s…" OR "s…") AND - scope : ("term" OR …)``: every scope (a token, or
    tokens of which one must be there) and any query term in any column but the scope; None when the
    query has no terms."""
    terms = query_terms(query)[:MAX_QUERY_TERMS]
    if not terms:
        return None
    clauses = [f'scope : "{scope}"' if isinstance(scope, str) else f"scope : ({_any(scope)})" for scope in scopes]
    return " AND ".join([*clauses, f"- scope : ({_any(terms)})"])


def _any(tokens: Sequence[str]) -> str:
    return " OR ".join(f'"{token}"' for token in tokens)  # terms and scope tokens never contain a quote
