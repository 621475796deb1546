"""Embedders: text to unit-length vectors, behind one protocol.

- ``offline`` (default): deterministic hashed features, no model, no network; works for Chinese.
- ``openai``: the OpenAI embeddings API (or any OpenAI-compatible server).
- ``sentence-transformers``: a local model, when the optional package is installed.

The vector store records the embedder's name and dimension with its collection, so vectors from
different embedders never end up compared with each other.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
from collections import Counter
from functools import lru_cache
from typing import Any, Protocol

from memory.settings import MemorySettings
from memory.tokens import index_terms


class Embedder(Protocol):
    name: str
    dim: int
    noise_floor: float  # cosine below which a vector hit is most likely unrelated (MAS_VECTOR_MIN_SIMILARITY overrides)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        ...


class EmbedderUnavailable(RuntimeError):
    """The configured embedder cannot run here (package missing, no API key)."""


# Bigrams carry the meaning of Chinese text; single characters only back them up.
_UNIGRAM_WEIGHT = 0.4
# Each term is spread over a few signed buckets: a hash collision then costs a fraction of a term,
# not a whole one, so unrelated short texts stay near zero instead of now and then jumping to ~0.3.
_BUCKETS_PER_TERM = 4


@lru_cache(maxsize=262_144)
def _buckets(term: str, dim: int) -> tuple[tuple[int, float], ...]:
    digest = hashlib.blake2b(term.encode(), digest_size=4 * _BUCKETS_PER_TERM).digest()
    words = (int.from_bytes(digest[i : i + 4], "little") for i in range(0, len(digest), 4))
    return tuple((word % dim, 1.0 if word >> 31 else -1.0) for word in words)


class OfflineEmbedder:
    """Signed feature hashing of the keyword terms (CJK unigrams and bigrams, Latin words), L2-normalised.

    Texts that share words get a high cosine and unrelated ones about zero (below 0.16 on the
    dev texts, hence its noise floor of 0.2); it knows no synonyms. Deterministic across processes
    and machines (blake2b, not ``hash()``).
    """

    noise_floor = 0.2

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.name = "offline-hash-v1"

    def embed_one(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        for term, count in Counter(index_terms(text)).items():
            weight = (_UNIGRAM_WEIGHT if len(term) == 1 and not term.isascii() else 1.0) * math.sqrt(count)
            for index, sign in _buckets(term, self.dim):
                vector[index] += sign * weight
        norm = math.sqrt(sum(x * x for x in vector))
        if norm == 0.0:  # no terms at all (punctuation only): a fixed unit vector instead of a zero one
            vector[_buckets("", self.dim)[0][0]], norm = 1.0, 1.0
        return [x / norm for x in vector]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if len(texts) <= 32:
            return [self.embed_one(text) for text in texts]
        return await asyncio.to_thread(lambda: [self.embed_one(text) for text in texts])


# The models' native sizes, so a collection can be created before the first call.
_OPENAI_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class OpenAIEmbedder:
    """``AsyncOpenAI().embeddings.create``, in batches; ``dimensions`` is sent when configured."""

    batch_size = 256
    noise_floor = 0.0  # model scales differ: no cut unless configured

    def __init__(self, client: Any, model: str, dim: int, send_dimensions: bool) -> None:
        self._client = client
        self._model = model
        self._send_dimensions = send_dimensions
        self.dim = dim
        self.name = f"openai:{model}"

    @classmethod
    async def open(cls, settings: MemorySettings) -> OpenAIEmbedder:
        from openai import AsyncOpenAI

        key = os.environ.get(settings.openai_embedding_api_key_env)
        if not key:
            raise EmbedderUnavailable(
                f"MAS_EMBEDDER=openai needs an API key in ${settings.openai_embedding_api_key_env} "
                "(or set MAS_OPENAI_EMBEDDING_API_KEY_ENV to the variable that holds it)"
            )
        client = AsyncOpenAI(api_key=key, base_url=settings.openai_embedding_base_url)
        model, dims = settings.openai_embedding_model, settings.openai_embedding_dims
        embedder = cls(client, model, dims or _OPENAI_DIMS.get(model, 0), send_dimensions=dims is not None)
        if not embedder.dim:  # an unknown (OpenAI-compatible) model: ask it once
            embedder.dim = len((await embedder.embed(["dimension probe"]))[0])
        return embedder

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            extra = {"dimensions": self.dim} if self._send_dimensions else {}
            response = await self._client.embeddings.create(model=self._model, input=batch, encoding_format="float", **extra)
            vectors.extend(_unit(item.embedding) for item in sorted(response.data, key=lambda item: item.index))
        return vectors

    async def close(self) -> None:
        await self._client.close()


class SentenceTransformerEmbedder:
    """A local sentence-transformers model; encoding runs in a worker thread."""

    noise_floor = 0.0  # model scales differ: no cut unless configured

    def __init__(self, model: Any, model_name: str) -> None:
        self._model = model
        self.dim = int(model.get_sentence_embedding_dimension())
        self.name = f"sentence-transformers:{model_name}"

    @classmethod
    async def open(cls, settings: MemorySettings) -> SentenceTransformerEmbedder:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderUnavailable(
                "MAS_EMBEDDER=sentence-transformers needs the optional package: "
                "pip install 'mas[sentence-transformers]' (or set MAS_EMBEDDER=offline)"
            ) from exc
        name = settings.sentence_transformers_model
        return cls(await asyncio.to_thread(SentenceTransformer, name), name)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        matrix = await asyncio.to_thread(self._model.encode, texts, normalize_embeddings=True, batch_size=64)
        return [list(map(float, row)) for row in matrix]


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


async def open_embedder(settings: MemorySettings) -> Embedder:
    if settings.embedder == "openai":
        return await OpenAIEmbedder.open(settings)
    if settings.embedder == "sentence-transformers":
        return await SentenceTransformerEmbedder.open(settings)
    return OfflineEmbedder(settings.offline_embedding_dims)


async def close_embedder(embedder: Embedder) -> None:
    close = getattr(embedder, "close", None)
    if close is not None:
        await close()
