"""Memory fixtures: services on embedded backends (opened once per session; each test uses its own
tenant, which is also how isolation is exercised), settings that ignore the caller's environment, and
a Milvus server for the contract tests (``MAS_TEST_MILVUS_URI``, else the embedded ``milvus`` package's)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from pymilvus import MilvusClient

from memory.service import MemoryService, ProductIndex
from memory.settings import MemorySettings
from tests.conftest import unavailable
from tests.memory.doubles import InMemoryTranscript, ScriptedSummariser

ELASTICSEARCH_URL = os.environ.get("MAS_TEST_ELASTICSEARCH_URL")
MILVUS_URI = os.environ.get("MAS_TEST_MILVUS_URI")
MILVUS_START_SECONDS = 120  # ~10 s on a 2-core box (unpacking the binary, then etcd and the coordinators)
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


class MilvusEndpoint(NamedTuple):
    uri: str
    version: str  # as the server reports it, e.g. v2.3.5-lite


@pytest.fixture(scope="session")
def milvus_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusEndpoint]:
    """MAS_TEST_MILVUS_URI, or the embedded server of the ``milvus`` package (2.3.5, an older server than
    production's) started once per session and stopped, its data removed, at the end. A server that cannot
    be reached or started skips its cases (fails them under MAS_TEST_REQUIRE_SERVICES=1)."""
    if MILVUS_URI:
        try:
            server = MilvusEndpoint(MILVUS_URI, milvus_version(MILVUS_URI))
        except Exception as exc:
            unavailable(f"Milvus server {MILVUS_URI}", exc)
        request.config.stash[MILVUS_VERSION] = f"{server.version} at {server.uri} (MAS_TEST_MILVUS_URI)"
        yield server
        return
    try:
        import milvus  # the dev extra's embedded server; imported only when a server case runs
    except ImportError as exc:
        unavailable("the embedded Milvus server (the dev extra's milvus package)", exc)

    base = tmp_path_factory.mktemp("milvus-server")
    what = f"the embedded Milvus server of the dev extra's milvus {milvus.__version__} package"
    embedded = embedded_milvus(milvus, base)
    started = time.monotonic()
    try:
        with pytest.MonkeyPatch.context() as patch:  # Milvus reads its settings from its environment too
            patch.setenv("ETCD_CONFIG_PATH", str(base / "etcd.yaml"))  # etcd.config.path: see embedded_milvus
            # proxy.timeTickInterval, 200 ms by default: a Strong-consistency search waits for the next tick
            # after the last write, which made the server cases 3x slower
            patch.setenv("PROXY_TIMETICKINTERVAL", "50")
            embedded.start()
        server = MilvusEndpoint(f"http://127.0.0.1:{embedded.listen_port}", wait_for_milvus(embedded))
    except Exception as exc:
        embedded.stop()
        shutil.rmtree(base / "bin", ignore_errors=True)  # the unpacked server (~250 MB); the logs stay
        unavailable(f"{what} (logs in {base / 'logs'})", exc)
    request.config.stash[MILVUS_VERSION] = f"{server.version}, {what}, started in {time.monotonic() - started:.1f} s"
    try:
        yield server
    finally:
        embedded.stop()  # SIGTERM, then SIGKILL after 1 s; waits for the process either way
        shutil.rmtree(base, ignore_errors=True)


def embedded_milvus(milvus: Any, base: Path) -> Any:
    """A ``milvus.MilvusServer`` under ``base`` on free ports. The package scans up from fixed ports (19530, 9091, ...)
    and its embedded etcd always listens on 2379/2380: two sessions on one machine would collide, so every port,
    etcd's included (through an etcd config file), is one the OS just handed out."""
    config = milvus.MilvusServerConfig(data_dir=str(base))
    port_keys = [key for key in config.configurable_items if key.endswith("_port")]
    *ports, etcd_peer, metrics = free_ports(len(port_keys) + 2)
    config.update(**dict(zip(port_keys, ports)))
    etcd = f"http://localhost:{config.configs['etcd_port']}"
    peer = f"http://localhost:{etcd_peer}"
    (base / "etcd.yaml").write_text(
        f"listen-client-urls: {etcd}\nadvertise-client-urls: {etcd}\n"
        f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\ninitial-cluster: default={peer}\n"
    )
    server = milvus.MilvusServer(config, wait_for_started=False)
    server.webservice_port = metrics  # its health endpoint (/healthz), which start() looks for from this port up
    return server


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def wait_for_milvus(embedded: Any) -> str:
    """Its version, once pymilvus can list its collections (the proxy and the coordinators are up)."""
    uri = f"http://127.0.0.1:{embedded.listen_port}"
    deadline = time.monotonic() + MILVUS_START_SECONDS
    while True:
        if embedded.server_proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {embedded.server_proc.returncode}")
        try:
            return milvus_version(uri)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def milvus_version(uri: str) -> str:
    client = MilvusClient(uri=uri, timeout=5)
    try:
        client.list_collections()
        return client.get_server_version()
    finally:
        client.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Which Milvus server the server cases ran against, so that their failures name it."""
    if MILVUS_VERSION in config.stash:
        terminalreporter.write_line(f"Milvus-server cases ran against Milvus {config.stash[MILVUS_VERSION]}")
