"""The memory section of the settings tree (``runtime.settings``, which reads it from ``MAS_`` variables), shared by
the Memory and Product deployments.

Every backend has an embedded default (no setup, files under ``data_dir``); a production backend is
switched on by setting its URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

MILVUS_SERVER_SCHEMES = ("http://", "https://", "tcp://", "unix:")
Kind = Literal["memory", "product"]
_PLURAL: dict[Kind, str] = {"memory": "memories", "product": "products"}


class MemorySettings(BaseModel):
    data_dir: Path = Field(description="Embedded state: the files of every embedded backend.")

    redis_url: str | None = Field(default=None, description="Conversation window in Redis; else read from the transcript.")
    window_size: int = Field(default=20, ge=1, le=1000, description="Messages in the short-term window.")
    window_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=1, description="Idle Redis windows expire after this.")
    summary_chunk_messages: int = Field(default=10, ge=1, le=200, description="Messages per summary once they leave the window.")

    elasticsearch_url: str | None = Field(default=None, description="Long-term and product keyword index; else SQLite FTS5.")
    elasticsearch_api_key: str | None = None
    elasticsearch_index_prefix: str = Field(default="mas", description="Indexes are <prefix>-memories and <prefix>-products.")

    milvus_uri: str | None = Field(
        default=None,
        description="A Milvus server (http(s)://, tcp://, unix:) or a directory for the Milvus Lite files; default data_dir.",
    )
    milvus_token: str | None = Field(default=None, description="Milvus server token (user:password or API key).")
    milvus_collection_prefix: str = Field(default="mas", description="Collections are <prefix>_memories and <prefix>_products.")

    vector_mirror_rows: int = Field(
        default=50_000, ge=0, le=10_000_000,
        description="Milvus Lite: vectors of small scopes (a thread, a tenant's catalog) searched in memory, in all; 0: off.",
    )
    vector_mirror_scope_rows: int = Field(
        default=2_000, ge=0, le=16_000, description="Milvus Lite: a scope with more vectors than this is searched in Milvus."
    )

    embedder: Literal["offline", "openai", "sentence-transformers"] = "offline"
    offline_embedding_dims: int = Field(default=384, ge=16, le=4096)
    openai_embedding_model: str = "text-embedding-3-small"
    openai_embedding_dims: int | None = Field(default=None, ge=1, description="Sent as `dimensions`; default: the model's own.")
    openai_embedding_api_key_env: str = Field(default="MAS_OPENAI_API_KEY", description="The environment variable holding the key.")
    openai_embedding_base_url: str | None = Field(default=None, description="An OpenAI-compatible embeddings server.")
    sentence_transformers_model: str = Field(default="BAAI/bge-small-zh-v1.5", description="A local path or a hub name.")
    vector_min_similarity: float | None = Field(
        default=None, ge=-1, le=1, description="Cosine below which a vector hit is dropped; default: the embedder's noise floor."
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Replicas run in other working directories: paths must not depend on cwd.
        return value.expanduser().resolve()

    def min_similarity(self, noise_floor: float) -> float:
        """The vector hit cut-off: the configured one, else the embedder's noise floor."""
        return noise_floor if self.vector_min_similarity is None else self.vector_min_similarity

    @property
    def milvus_is_server(self) -> bool:
        return bool(self.milvus_uri) and self.milvus_uri.startswith(MILVUS_SERVER_SCHEMES)

    def vector_uri(self, kind: Kind) -> str:
        """The Milvus server, or this kind's own Lite file: a Lite file is owned by one process, and the
        Memory and Product deployments are different processes."""
        if self.milvus_is_server:
            return self.milvus_uri  # type: ignore[return-value]
        directory = Path(self.milvus_uri).expanduser().resolve() if self.milvus_uri else self.data_dir
        return str(directory / f"{kind}_vectors.db")

    def collection_name(self, kind: Kind) -> str:
        return f"{self.milvus_collection_prefix}_{_PLURAL[kind]}"

    def fts_path(self, kind: Kind) -> Path:
        """The SQLite FTS5 file of the embedded keyword index, one per kind (and per owning process)."""
        return self.data_dir / f"{kind}_fts.db"

    def index_name(self, kind: Kind) -> str:
        return f"{self.elasticsearch_index_prefix}-{_PLURAL[kind]}"
