"""Memory fixtures: services on embedded backends (opened once per session; each test uses its own
tenant, which is also how isolation is exercised), settings that ignore the caller's environment, and
a Milvus server for the contract tests (``MAS_TEST_MILVUS_URI``, else the embedded ``milvus`` package's)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from memory.service import MemoryService, ProductIndex
from memory.settings import MemorySettings
from tests.memory.doubles import InMemoryTranscript, ScriptedSummariser
from tests.milvus_server import MilvusEndpoint
from tests.milvus_server import milvus_server as started_milvus

ELASTICSEARCH_URL = os.environ.get("MAS_TEST_ELASTICSEARCH_URL")
MILVUS_VERSION = pytest.StashKey[str]()
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


@pytest.fixture(scope="session", params=["sqlite_fts", "elasticsearch", "milvus_server"])
async def products(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ProductIndex]:
    """The product index with its keyword side on each backend (Elasticsearch when MAS_TEST_ELASTICSEARCH_URL is set)
    and its vectors on Milvus Lite, or on a Milvus server (keywords on SQLite) in the milvus_server case."""
    settings = embedded_settings(tmp_path_factory.mktemp("products"))
    if request.param == "elasticsearch":
        if not ELASTICSEARCH_URL:
            pytest.skip("MAS_TEST_ELASTICSEARCH_URL is not set: no Elasticsearch server to run the contract against")
        prefix = f"mas-test-{uuid.uuid4().hex[:8]}"
        settings = settings.model_copy(update={"elasticsearch_url": ELASTICSEARCH_URL, "elasticsearch_index_prefix": prefix})
    if request.param == "milvus_server":
        uri, prefix = request.getfixturevalue("milvus_server").uri, f"mas_test_{uuid.uuid4().hex[:8]}"
        settings = settings.model_copy(update={"milvus_uri": uri, "milvus_collection_prefix": prefix})
    index = await ProductIndex.open(settings)
    yield index
    if request.param == "elasticsearch":
        await index._keywords._es.indices.delete(index=settings.index_name("product"))  # type: ignore[attr-defined]
    if request.param == "milvus_server":
        index._vectors._client.drop_collection(settings.collection_name("product"))  # type: ignore[attr-defined]
    await index.close()


@pytest.fixture(scope="session")
def milvus_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusEndpoint]:
    """The Milvus server of the contract tests (``tests.milvus_server``), once per session."""
    with started_milvus(tmp_path_factory.mktemp("milvus-server")) as server:
        request.config.stash[MILVUS_VERSION] = server.described
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Which Milvus server the server cases ran against, so that their failures name it."""
    if MILVUS_VERSION in config.stash:
        terminalreporter.write_line(f"Milvus-server cases ran against Milvus {config.stash[MILVUS_VERSION]}")
