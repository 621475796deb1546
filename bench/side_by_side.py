"""``mas start`` and the single-process baseline (the same FastAPI app in one uvicorn) side by side, for benchmarks.

Both share one fresh data dir (SQLite, JWT secret, dev key), so a token
works on either. The baseline is checked with ``/v1/health``, not
``/v1/ready``: readiness opens the memory and product stores, whose Milvus
Lite files the Serve replicas own (one process per file), so the baseline
would never be ready; the request paths benchmarked here do not use them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI

from api.app import create_app
from deployments.launcher import wait_until_ready
from runtime.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def app() -> FastAPI:
    """uvicorn --factory entry point: the API exactly as the Ingress replica builds it, minus Serve."""
    return create_app(Settings())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def side_by_side(
    proxy: str = "serve", env: dict[str, str] | None = None, own_baseline_dir: bool = False
) -> Iterator[tuple[dict[str, str], Path]]:
    """Yields ({"serve": url, "uvicorn": url}, data_dir); ``env`` reaches both (Serve replicas inherit it).

    ``own_baseline_dir``: the baseline gets a data dir of its own (``data_dir/uvicorn``: its own database and
    memory and product files, so it can be ready) with Serve's JWT secret and a copy of its database (the app keys:
    a token is accepted only while its key is active in the database), so a token still works on both.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="mas-bench-"))
    environ = {**os.environ, **(env or {}), "MAS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    environ.pop("MAS_DATABASE_URL", None)
    serve_port, uvicorn_port = free_port(), free_port()
    targets = {"serve": f"http://127.0.0.1:{serve_port}", "uvicorn": f"http://127.0.0.1:{uvicorn_port}"}
    log = open(data_dir / "processes.log", "wb")
    serve = baseline = None
    try:
        serve = subprocess.Popen(
            [sys.executable, "-m", "mas.cli", "start", "--port", str(serve_port), "--dashboard-port", str(free_port()), "--proxy", proxy],
            env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait(targets["serve"], serve, "/v1/ready")  # creates the schema, secret and dev key first
        baseline_env = environ
        if own_baseline_dir:
            (data_dir / "uvicorn").mkdir()
            shutil.copy(data_dir / "jwt_secret", data_dir / "uvicorn" / "jwt_secret")
            with sqlite3.connect(data_dir / "mas.db") as source, sqlite3.connect(data_dir / "uvicorn" / "mas.db") as copy:
                source.backup(copy)
            baseline_env = {**environ, "MAS_DATA_DIR": str(data_dir / "uvicorn")}
        baseline = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "side_by_side:app", "--factory", "--app-dir", str(REPO / "bench"),
             "--port", str(uvicorn_port), "--no-access-log", "--log-level", "warning"],
            env=baseline_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait(targets["uvicorn"], baseline, "/v1/ready" if own_baseline_dir else "/v1/health")
        yield targets, data_dir
    finally:
        _stop(baseline)
        _stop(serve)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def _wait(url: str, process: subprocess.Popen[bytes], path: str) -> None:
    def alive() -> None:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early")

    wait_until_ready(url, alive, path=path)


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        print(f"pid {process.pid} ignored SIGINT for 90 s: killing its group", file=sys.stderr)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
