"""`mas start` as a test fixture: a real local Ray cluster serving configs/serve.yaml, stopped (no raylet left) after."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

START_TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _raylet_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-x", "raylet"], capture_output=True, text=True).stdout
    return {int(pid) for pid in out.split()}


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    api: str
    dashboard: str
    metrics: str  # Ray's Prometheus endpoint
    data_dir: Path
    log: Path

    def token(self, http: httpx.Client) -> str:
        key = (self.data_dir / "dev_app_key").read_text().strip()
        return http.post("/v1/auth/token", headers={"X-App-Key": key}).json()["access_token"]

    def serve_details(self) -> dict:
        """The Serve application as the dashboard's REST API shows it (with the Ray auth token)."""
        token_file = Path.home() / ".ray" / "auth_token"
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"} if token_file.exists() else {}
        details = httpx.get(f"{self.dashboard}/api/serve/applications/", headers=headers, timeout=30)
        assert details.status_code == 200, details.text[:500]
        return details.json()["applications"]["mas"]


@contextmanager
def mas_started(data_dir: Path, proxy: str = "serve", env: dict[str, str] | None = None) -> Iterator[Running]:
    log = data_dir / "start.log"
    api_port, dashboard_port, metrics_port = free_port(), free_port(), free_port()
    environ = {**os.environ, "MAS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **(env or {})}
    environ.pop("MAS_DATABASE_URL", None)
    before = _raylet_pids()
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "mas.cli", "start", "--port", str(api_port), "--dashboard-port", str(dashboard_port),
             "--metrics-port", str(metrics_port), "--proxy", proxy],
            stdout=sink, stderr=subprocess.STDOUT, env=environ, start_new_session=True,
        )
    running = Running(process, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dashboard_port}",
                      f"http://127.0.0.1:{metrics_port}/metrics", data_dir, log)
    try:
        _wait_for_banner(running)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        leaked = _raylet_pids() - before
        if leaked:
            subprocess.run(["ray", "stop", "--force"], capture_output=True)
        assert not leaked, f"raylet still running after mas start stopped: {leaked}"


def _wait_for_banner(running: Running) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if "MAS is running" in running.log.read_text(errors="replace"):
            return
        if running.process.poll() is not None:
            break
        time.sleep(1)
    pytest.fail(f"mas start did not come up; log:\n{running.log.read_text(errors='replace')[-5000:]}")
