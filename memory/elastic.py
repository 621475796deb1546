"""Elasticsearch plumbing shared by the long-term and product indexes (the official async client).

Chinese text is analysed like the embedded index: the built-in ``cjk_bigram`` filter indexes CJK
bigrams plus unigrams, and queries are analysed into bigrams only (no plugin needed). Documents
are routed by tenant, and every query filters on the tenant as a ``term``.
The client speaks the 9.x API: it needs an Elasticsearch 9 server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memory.settings import MemorySettings

if TYPE_CHECKING:  # the client is imported when an index opens: replicas without Elasticsearch never pay its ~90 MB
    from elasticsearch import AsyncElasticsearch

INDEX_SETTINGS: dict[str, Any] = {
    "analysis": {
        "filter": {
            "mas_cjk_index": {"type": "cjk_bigram", "output_unigrams": True},
            "mas_cjk_query": {"type": "cjk_bigram", "output_unigrams": False},
        },
        "analyzer": {
            "mas_index": {"type": "custom", "tokenizer": "standard", "filter": ["cjk_width", "lowercase", "mas_cjk_index"]},
            "mas_query": {"type": "custom", "tokenizer": "standard", "filter": ["cjk_width", "lowercase", "mas_cjk_query"]},
        },
    }
}
TEXT: dict[str, Any] = {"type": "text", "analyzer": "mas_index", "search_analyzer": "mas_query"}
KEYWORD: dict[str, Any] = {"type": "keyword"}


def open_client(settings: MemorySettings) -> AsyncElasticsearch:
    from elasticsearch import AsyncElasticsearch

    return AsyncElasticsearch(
        settings.elasticsearch_url, api_key=settings.elasticsearch_api_key, request_timeout=10, retry_on_timeout=True
    )


async def open_index(settings: MemorySettings, name: str, properties: dict[str, Any]) -> AsyncElasticsearch:
    """A client with the index ``name`` in place (created with ``properties`` if missing)."""
    client = open_client(settings)
    try:
        await ensure_index(client, name, properties)
    except BaseException:
        await client.close()
        raise
    return client


async def ensure_index(client: AsyncElasticsearch, name: str, properties: dict[str, Any]) -> None:
    """Create the index with its explicit, strict mapping unless it exists (another replica may race us)."""
    from elasticsearch import BadRequestError

    if await client.indices.exists(index=name):
        return
    try:
        await client.indices.create(index=name, settings=INDEX_SETTINGS, mappings={"dynamic": "strict", "properties": properties})
    except BadRequestError as exc:
        if exc.error != "resource_already_exists_exception":
            raise


def raise_bulk_errors(response: Any) -> None:
    if response.get("errors"):
        failed = [item for item in response["items"] for result in item.values() if result.get("error")]
        raise RuntimeError(f"Elasticsearch bulk write failed for {len(failed)} documents, first: {failed[0]}")


async def check(client: AsyncElasticsearch) -> str:
    await client.info()
    return "ok"
