"""``ProductIndex``: each tenant's product catalog, searchable by name, aliases, tags, indications,
category and description, hybrid-ranked (vector + keyword, fused ranks).

The relational product table stays the catalog of record (the API owns it); this is its search
index. Contraindications are not indexed: a query for 孕妇 must not bring up what pregnant women
must avoid. Rows are keyed by a hash of (tenant_id, product_id), so two tenants' equal product
ids never meet.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from contextlib import AsyncExitStack
from typing import Any, NamedTuple, Protocol

from memory import elastic
from memory.embeddings import Embedder, close_embedder, open_embedder
from memory.fts import TOKENIZE, SqliteFile, match_expression, scope_token, terms_column
from memory.fusion import candidates, fuse_hybrid
from memory.readiness import check_all
from memory.settings import MemorySettings
from memory.types import ProductDoc, ScoredProduct
from memory.vectors import VectorRow, VectorStore

# Relative weight of each field in keyword relevance: a name or alias match beats a description one.
FIELD_WEIGHTS = {"name": 10.0, "aliases": 8.0, "tags": 3.0, "indications": 3.0, "category": 2.0, "description": 1.0}


def product_key(tenant_id: str, product_id: str) -> str:
    return hashlib.blake2b(f"{tenant_id}\x00{product_id}".encode(), digest_size=16).hexdigest()


def _fields(product: ProductDoc) -> dict[str, str]:
    return {
        "name": product.name,
        "aliases": " ".join(product.aliases),
        "tags": " ".join(product.tags),
        "indications": " ".join(product.indications),
        "category": product.category,
        "description": product.description,
    }


def embedding_text(product: ProductDoc) -> str:
    """What a product is (name, aliases, tags, indications, category): a long description would
    drown those words in the vector, and the keyword index already covers it."""
    fields = _fields(product)
    return "\n".join(fields[field] for field in ("name", "aliases", "tags", "indications", "category") if fields[field])


class KeywordHit(NamedTuple):
    key: str
    product_id: str
    name: str
    score: float


class ProductKeywordIndex(Protocol):
    name: str

    async def upsert(self, tenant_id: str, products: list[ProductDoc]) -> None: ...

    async def search(self, tenant_id: str, query: str, k: int) -> list[KeywordHit]: ...

    async def lookup(self, tenant_id: str, keys: list[str]) -> dict[str, tuple[str, str]]:
        """key -> (product_id, name), for the tenant's products among these keys."""
        ...

    async def delete(self, tenant_id: str, product_ids: list[str]) -> None: ...

    async def check(self) -> str: ...

    async def close(self) -> None: ...


_SQLITE_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS products (
    rowid INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    name TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS product_terms USING fts5(scope, {", ".join(FIELD_WEIGHTS)}, tokenize='{TOKENIZE}');
"""
_INSERT_TERMS = (
    f"INSERT INTO product_terms (rowid, scope, {', '.join(FIELD_WEIGHTS)}) VALUES ({', '.join('?' * (len(FIELD_WEIGHTS) + 2))})"
)
_BM25 = f"bm25(product_terms, 0.0, {', '.join(map(str, FIELD_WEIGHTS.values()))})"


class SqliteProductKeywords:
    """SQLite FTS5, one column per field weighted by ``FIELD_WEIGHTS`` (see ``memory.fts``)."""

    name = "sqlite_fts"

    def __init__(self, file: SqliteFile) -> None:
        self._db = file

    @classmethod
    def open(cls, settings: MemorySettings) -> SqliteProductKeywords:
        return cls(SqliteFile(settings.fts_path("product"), _SQLITE_SCHEMA))

    async def upsert(self, tenant_id: str, products: list[ProductDoc]) -> None:
        scope = scope_token(tenant_id)

        def write(connection: sqlite3.Connection) -> None:
            for product in products:
                key = product_key(tenant_id, product.product_id)
                self._remove(connection, key)
                rowid = connection.execute(
                    "INSERT INTO products (key, tenant_id, product_id, name) VALUES (?, ?, ?, ?) RETURNING rowid",
                    (key, tenant_id, product.product_id, product.name),
                ).fetchone()[0]
                columns = [terms_column(text) for text in _fields(product).values()]
                connection.execute(_INSERT_TERMS, (rowid, scope, *columns))

        await self._db.transaction(write)

    @staticmethod
    def _remove(connection: sqlite3.Connection, key: str) -> None:
        old = connection.execute("DELETE FROM products WHERE key = ? RETURNING rowid", (key,)).fetchone()
        if old:
            connection.execute("DELETE FROM product_terms WHERE rowid = ?", old)

    async def search(self, tenant_id: str, query: str, k: int) -> list[KeywordHit]:
        match = match_expression(query, [scope_token(tenant_id)])
        if match is None:
            return []
        sql = (
            f"SELECT p.key, p.product_id, p.name, -{_BM25} AS score FROM product_terms"
            " JOIN products p ON p.rowid = product_terms.rowid"
            " WHERE product_terms MATCH ? AND p.tenant_id = ? ORDER BY score DESC LIMIT ?"
        )
        rows = await self._db.run(lambda connection: connection.execute(sql, (match, tenant_id, k)).fetchall())
        return [KeywordHit(*row) for row in rows]

    async def lookup(self, tenant_id: str, keys: list[str]) -> dict[str, tuple[str, str]]:
        if not keys:
            return {}
        sql = f"SELECT key, product_id, name FROM products WHERE tenant_id = ? AND key IN ({', '.join('?' * len(keys))})"
        rows = await self._db.run(lambda connection: connection.execute(sql, (tenant_id, *keys)).fetchall())
        return {key: (product_id, name) for key, product_id, name in rows}

    async def delete(self, tenant_id: str, product_ids: list[str]) -> None:
        def remove(connection: sqlite3.Connection) -> None:
            for product_id in product_ids:
                self._remove(connection, product_key(tenant_id, product_id))

        await self._db.transaction(remove)

    async def check(self) -> str:
        return await self._db.check()

    async def close(self) -> None:
        self._db.close()


_ES_PROPERTIES: dict[str, Any] = {
    "tenant_id": elastic.KEYWORD,
    "product_id": elastic.KEYWORD,
    **{field: elastic.TEXT for field in FIELD_WEIGHTS},
}


class ElasticProductKeywords:
    """One Elasticsearch index ``<prefix>-products``; document id = product key, routing = tenant_id."""

    name = "elasticsearch"

    def __init__(self, client: Any, index: str) -> None:
        self._es = client
        self._index = index

    @classmethod
    async def open(cls, settings: MemorySettings) -> ElasticProductKeywords:
        index = settings.index_name("product")
        return cls(await elastic.open_index(settings, index, _ES_PROPERTIES), index)

    async def upsert(self, tenant_id: str, products: list[ProductDoc]) -> None:
        operations: list[dict[str, Any]] = []
        for product in products:
            key = product_key(tenant_id, product.product_id)
            operations.append({"index": {"_index": self._index, "_id": key, "routing": tenant_id}})
            operations.append({"tenant_id": tenant_id, "product_id": product.product_id, **_fields(product)})
        if operations:
            elastic.raise_bulk_errors(await self._es.bulk(operations=operations, refresh="wait_for"))

    async def search(self, tenant_id: str, query: str, k: int) -> list[KeywordHit]:
        if not query.strip():
            return []
        fields = [f"{field}^{weight:g}" for field, weight in FIELD_WEIGHTS.items()]
        response = await self._es.search(
            index=self._index,
            routing=tenant_id,
            size=k,
            query={
                "bool": {
                    "must": {"multi_match": {"query": query, "fields": fields, "type": "best_fields", "tie_breaker": 0.3}},
                    "filter": [{"term": {"tenant_id": tenant_id}}],
                }
            },
            source_includes=["product_id", "name"],
        )
        return [
            KeywordHit(hit["_id"], hit["_source"]["product_id"], hit["_source"]["name"], float(hit["_score"]))
            for hit in response["hits"]["hits"]
        ]

    async def lookup(self, tenant_id: str, keys: list[str]) -> dict[str, tuple[str, str]]:
        if not keys:
            return {}
        response = await self._es.mget(
            index=self._index, ids=keys, routing=tenant_id, source_includes=["tenant_id", "product_id", "name"]
        )
        return {
            doc["_id"]: (doc["_source"]["product_id"], doc["_source"]["name"])
            for doc in response["docs"]
            if doc.get("found") and doc["_source"]["tenant_id"] == tenant_id
        }

    async def delete(self, tenant_id: str, product_ids: list[str]) -> None:
        operations = [
            {"delete": {"_index": self._index, "_id": product_key(tenant_id, product_id), "routing": tenant_id}}
            for product_id in product_ids
        ]
        if operations:
            response = await self._es.bulk(operations=operations, refresh="wait_for")
            if response.get("errors"):  # deleting what is not there is fine
                missing = [item for item in response["items"] if item["delete"].get("status") != 404]
                elastic.raise_bulk_errors({"errors": bool(missing), "items": missing})

    async def check(self) -> str:
        return await elastic.check(self._es)

    async def close(self) -> None:
        await self._es.close()


async def open_product_keywords(settings: MemorySettings) -> SqliteProductKeywords | ElasticProductKeywords:
    if settings.elasticsearch_url:
        return await ElasticProductKeywords.open(settings)
    return SqliteProductKeywords.open(settings)


class ProductIndex:
    """The tenants' product search index: keyword (FTS5/Elasticsearch) and vectors (Milvus)."""

    def __init__(
        self,
        settings: MemorySettings,
        embedder: Embedder,
        keywords: ProductKeywordIndex,
        vectors: VectorStore,
        resources: AsyncExitStack,
    ) -> None:
        self._settings = settings
        self._embedder = embedder
        self._keywords = keywords
        self._vectors = vectors
        self._resources = resources

    @classmethod
    async def open(cls, settings: MemorySettings) -> ProductIndex:
        stack = AsyncExitStack()
        try:
            embedder = await open_embedder(settings)
            stack.push_async_callback(close_embedder, embedder)
            keywords = await open_product_keywords(settings)
            stack.push_async_callback(keywords.close)
            vectors = await VectorStore.for_kind(settings, "product", embedder)
            stack.push_async_callback(vectors.close)
        except BaseException:
            await stack.aclose()
            raise
        return cls(settings, embedder, keywords, vectors, stack)

    async def upsert(self, tenant_id: str, products: list[ProductDoc]) -> None:
        """Index (or re-index) products; idempotent by product_id (the last of a repeated id wins)."""
        latest = list({product.product_id: product for product in products}.values())
        if not latest:
            return
        vectors = await self._embedder.embed([embedding_text(product) for product in latest])
        rows = [
            VectorRow(product_key(tenant_id, product.product_id), tenant_id, "", vector)
            for product, vector in zip(latest, vectors)
        ]
        await asyncio.gather(self._keywords.upsert(tenant_id, latest), self._vectors.upsert(rows))

    async def search(self, tenant_id: str, query: str, k: int = 5) -> list[ScoredProduct]:
        """Best first; scores as in ``MemoryService.search`` (1.0: ranked first by both)."""
        if not query.strip() or k <= 0:
            return []
        wanted = candidates(k)
        (vector,) = await self._embedder.embed([query])
        hits, matches = await asyncio.gather(
            self._vectors.search(tenant_id, vector, wanted), self._keywords.search(tenant_id, query, wanted)
        )
        floor = self._settings.min_similarity(self._embedder.noise_floor)
        fused = fuse_hybrid(hits, [match.key for match in matches], k, floor)
        products = {match.key: (match.product_id, match.name) for match in matches}
        products.update(await self._keywords.lookup(tenant_id, [item.id for item in fused if item.id not in products]))
        return [
            ScoredProduct(
                product_id=products[item.id][0], name=products[item.id][1], score=round(item.score, 6), matched_by=item.matched_by
            )
            for item in fused
            if item.id in products
        ]

    async def delete(self, tenant_id: str, product_ids: list[str]) -> None:
        await self._keywords.delete(tenant_id, product_ids)
        await self._vectors.delete(tenant_id, [product_key(tenant_id, product_id) for product_id in product_ids])

    async def check(self) -> dict[str, str]:
        return await check_all({"keywords": self._keywords, "vectors": self._vectors})

    async def close(self) -> None:
        await self._resources.aclose()
