"""`mas start`: a local Ray cluster (with dashboard) running the Serve config of configs/serve.yaml.

It deploys through Serve's own `serve run` code path, so `serve run
configs/serve.yaml` and `mas start` deploy the same application.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httpx
import ray
import yaml
from ray import serve
from ray.serve.scripts import run as serve_run_command

from runtime.settings import Settings
from telemetry.log_masking import install_log_masking

READY_TIMEOUT_S = 300


@dataclass(frozen=True)
class LaunchOptions:
    config: Path
    host: str | None
    port: int | None
    dashboard_port: int
    metrics_port: int  # Ray's Prometheus endpoint (Ray's and Serve's metrics, and the mas_ ones)
    address: str  # "local" starts a new cluster; "auto" or an address joins one


def effective_config(options: LaunchOptions, settings: Settings) -> tuple[Path, str, int]:
    """serve.yaml with --host/--port applied, written beside the data; returns (path, host, port)."""
    config = yaml.safe_load(options.config.read_text())
    http = config.setdefault("http_options", {})
    if options.host:
        http["host"] = options.host
    if options.port:
        http["port"] = options.port
    host, port = http.get("host", "127.0.0.1"), int(http.get("port", 8000))
    path = settings.data_dir / "serve.effective.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, host, port


def launch(options: LaunchOptions, settings: Settings, banner: str) -> None:
    """Start Ray and Serve, wait until the API answers, print ``banner`` and block until Ctrl-C/SIGTERM."""
    config_path, host, port = effective_config(options, settings)
    # Replicas inherit this environment: they must see the same absolute paths as this process.
    os.environ["MAS_DATA_DIR"] = str(settings.data_dir)
    os.environ["MAS_CONFIG_DIR"] = str(settings.config_dir)
    init_kwargs: dict[str, object] = {"address": options.address, "namespace": "serve"}
    if options.address == "local":
        init_kwargs.update(include_dashboard=True, dashboard_host="127.0.0.1", dashboard_port=options.dashboard_port,
                           _metrics_export_port=options.metrics_port)
    context = ray.init(**init_kwargs)
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        # Explicit even for SIGINT: a process started in the background inherits it ignored.
        signal.signal(stop_signal, _stop)
    try:
        serve_run_command.main([str(config_path), "--non-blocking"], standalone_mode=False)
        install_log_masking()  # on the handlers Ray and Serve set up in this process
        api_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        wait_until_ready(api_url, _raise_if_deploy_failed)
        dashboard = context.dashboard_url or ""
        print(banner.format(api=api_url, dashboard=f"http://{dashboard}" if dashboard and "://" not in dashboard else dashboard,
                            metrics=f"http://127.0.0.1:{options.metrics_port}/metrics"), flush=True)
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nStopping MAS: shutting down Serve and the local Ray cluster…", flush=True)
    finally:
        serve.shutdown()
        ray.shutdown()


def _stop(*_: object) -> None:
    raise KeyboardInterrupt  # one clean shutdown path for Ctrl-C and SIGTERM


def wait_until_ready(api_url: str, still_starting: Callable[[], None], timeout_s: float = READY_TIMEOUT_S, path: str = "/v1/ready") -> None:
    """Poll ``path`` until 200; ``still_starting`` raises as soon as startup has failed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        still_starting()
        try:
            if httpx.get(f"{api_url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"the API did not become ready at {api_url} within {timeout_s}s")


def _raise_if_deploy_failed() -> None:
    for name, app in serve.status().applications.items():
        if str(app.status).endswith("DEPLOY_FAILED"):
            raise RuntimeError(f"Serve application '{name}' failed to deploy: {app.message}")
