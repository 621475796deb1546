"""A Milvus server for tests: ``MAS_TEST_MILVUS_URI``, else the embedded server of the dev extra's ``milvus`` package
(2.3.5, an older server than production's), started on free ports and stopped, its data removed, at the end. Used by
the memory contract tests and by the cluster test."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from pymilvus import MilvusClient

from tests.conftest import unavailable

MILVUS_URI = os.environ.get("MAS_TEST_MILVUS_URI")
MILVUS_START_SECONDS = 120  # ~10 s on a 2-core box (unpacking the binary, then etcd and the coordinators)


class MilvusEndpoint(NamedTuple):
    uri: str
    version: str  # as the server reports it, e.g. v2.3.5-lite
    described: str  # which server this is, for a test report


@contextlib.contextmanager
def milvus_server(base: Path) -> Iterator[MilvusEndpoint]:
    """The server, its files under ``base``. One that cannot be reached or started skips the caller's cases (fails
    them under MAS_TEST_REQUIRE_SERVICES=1)."""
    if MILVUS_URI:
        try:
            version = milvus_version(MILVUS_URI)
        except Exception as exc:
            unavailable(f"Milvus server {MILVUS_URI}", exc)
        yield MilvusEndpoint(MILVUS_URI, version, f"{version} at {MILVUS_URI} (MAS_TEST_MILVUS_URI)")
        return
    try:
        import milvus  # the dev extra's embedded server; imported only when a server case runs
    except ImportError as exc:
        unavailable("the embedded Milvus server (the dev extra's milvus package)", exc)

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
        uri = f"http://127.0.0.1:{embedded.listen_port}"
        version = wait_for_milvus(embedded)
    except Exception as exc:
        embedded.stop()
        shutil.rmtree(base / "bin", ignore_errors=True)  # the unpacked server (~250 MB); the logs stay
        unavailable(f"{what} (logs in {base / 'logs'})", exc)
    try:
        yield MilvusEndpoint(uri, version, f"{version}, {what}, started in {time.monotonic() - started:.1f} s")
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
