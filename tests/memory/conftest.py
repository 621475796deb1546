"""Memory fixtures: services on embedded backends (opened once per session; each test uses its own
tenant, which is also how isolation is exercised) and settings that ignore the caller's environment."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from memory.service import MemoryService, ProductIndex
from memory.settings import MemorySettings
from tests.memory.doubles import InMemoryTranscript, ScriptedSummariser

ELASTICSEARCH_URL = os.environ.get("MAS_TEST_ELASTICSEARCH_URL")
WINDOW = 4
CHUNK = 4


def embedded_settings(data_dir: Path, **overrides: Any) -> MemorySettings:
    """Every backend on its embedded default, whatever MAS_* variables the environment holds."""
    defaults: dict[str, Any] = {
        "data_dir": data_dir,
        "redis_url": None,
        "elasticsearch_url": None,
        "milvus_uri": None,
        "embedder": "offline",
        "vector_min_similarity": None,
        "window_size": WINDOW,
        "summary_chunk_messages": CHUNK,
    }
    return MemorySettings(**{**defaults, **overrides})


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def memory_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("memory")


@pytest.fixture(scope="session")
def transcript() -> InMemoryTranscript:
    return InMemoryTranscript()


@pytest.fixture(scope="session")
def summariser() -> ScriptedSummariser:
    return ScriptedSummariser()


@pytest.fixture(scope="session")
async def service(
    memory_dir: Path, transcript: InMemoryTranscript, summariser: ScriptedSummariser
) -> AsyncIterator[MemoryService]:
    service = await MemoryService.open(embedded_settings(memory_dir), transcript, summariser)
    yield service
    await service.close()


@pytest.fixture(scope="session", params=["sqlite_fts", "elasticsearch"])
async def products(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ProductIndex]:
    """The product index with its keyword side on each backend (Elasticsearch when MAS_TEST_ELASTICSEARCH_URL is set)."""
    settings = embedded_settings(tmp_path_factory.mktemp("products"))
    if request.param == "elasticsearch":
        if not ELASTICSEARCH_URL:
            pytest.skip("MAS_TEST_ELASTICSEARCH_URL is not set: no Elasticsearch server to run the contract against")
        prefix = f"mas-test-{uuid.uuid4().hex[:8]}"
        settings = settings.model_copy(update={"elasticsearch_url": ELASTICSEARCH_URL, "elasticsearch_index_prefix": prefix})
    index = await ProductIndex.open(settings)
    yield index
    if request.param == "elasticsearch":
        await index._keywords._es.indices.delete(index=settings.index_name("product"))  # type: ignore[attr-defined]
    await index.close()
