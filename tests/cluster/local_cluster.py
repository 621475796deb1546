"""A Ray cluster of separate raylets on this machine, shaped like cluster/rayservice.yaml's: a head that runs only
Serve's controller and proxy (the manifest's ``num-cpus: "0"``) and two worker nodes for the replicas. The Serve
config is applied the way KubeRay applies ``serveConfigV2``: through the head's dashboard REST API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from ray._private.node import Node
from ray.cluster_utils import Cluster

from tests.milvus_server import free_ports

APP = "mas"
WORKER_NODES = 2
WORKER_CPUS = 2  # per worker node: the raylet starts as many worker processes at once (at most the cores); replicas fit on one
DEPLOY_TIMEOUT_S = 300
DASHBOARD_ATTEMPTS = 3


def ray_auth_headers() -> dict[str, str]:
    """Ray 2.60's token auth for the dashboard API (the token Ray keeps in ~/.ray/auth_token)."""
    token_file = Path.home() / ".ray" / "auth_token"
    return {"Authorization": f"Bearer {token_file.read_text().strip()}"} if token_file.exists() else {}


@dataclass
class LocalCluster:
    cluster: Cluster
    workers: list[Node]
    dashboard: str

    @property
    def head(self) -> Node:
        return self.cluster.head_node

    @property
    def logs(self) -> Path:
        """Every node's logs: the nodes of one machine share the session directory."""
        return Path(self.head.get_logs_dir_path())

    def deploy(self, config: dict[str, Any]) -> None:
        """``serve deploy``, as KubeRay does it: the whole config PUT to the dashboard, then wait for RUNNING."""
        deadline = time.monotonic() + DEPLOY_TIMEOUT_S
        while True:
            try:
                response = httpx.put(f"{self.dashboard}/api/serve/applications/", json=config, headers=ray_auth_headers(),
                                     timeout=60)
                break
            except httpx.TransportError:  # the dashboard is still starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        assert response.status_code == 200, response.text[:2000]
        while (status := self.application().get("status")) != "RUNNING":
            if status == "DEPLOY_FAILED" or time.monotonic() > deadline:
                pytest.fail(f"the Serve application did not come up ({status}): {self.application().get('message')}")
            time.sleep(2)

    def application(self) -> dict[str, Any]:
        """The application as the dashboard shows it (status, deployments, replicas with their node and pid). Asked
        again when the dashboard does not answer in time: on 2 busy cores it sometimes takes longer than a replica start."""
        for attempt in range(DASHBOARD_ATTEMPTS):
            try:
                response = httpx.get(f"{self.dashboard}/api/serve/applications/", headers=ray_auth_headers(), timeout=30)
                break
            except httpx.TimeoutException:
                if attempt == DASHBOARD_ATTEMPTS - 1:
                    raise
        assert response.status_code == 200, response.text[:500]
        return response.json()["applications"].get(APP) or {}

    def replicas(self, deployment: str) -> list[dict[str, Any]]:
        """The deployment's RUNNING replicas."""
        found = self.application().get("deployments", {}).get(deployment, {}).get("replicas", [])
        return [replica for replica in found if replica["state"] == "RUNNING"]

    def lose(self, worker: Node) -> float:
        """SIGKILL the worker node's raylet, as when its machine or pod is gone; the time it happened."""
        worker.kill_raylet()
        return time.monotonic()

    def process_log(self, pid: int) -> str:
        """What a worker process (a replica) wrote to its stderr."""
        return "".join(path.read_text(errors="replace") for path in self.logs.glob(f"worker-*-{pid}.err"))


@contextmanager
def local_cluster(environment: dict[str, str], head_start_params: dict[str, str]) -> Iterator[LocalCluster]:
    """The head (with the dashboard) and ``WORKER_NODES`` workers, every node started with ``environment`` (a pod's
    env: replica processes inherit their raylet's), all their processes stopped at the end."""
    dashboard_port, = free_ports(1)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        cluster = Cluster(initialize_head=True, shutdown_at_exit=True, head_node_args={
            "num_cpus": int(head_start_params.get("num-cpus", 1)), "include_dashboard": True,
            "dashboard_host": "127.0.0.1", "dashboard_port": dashboard_port,
        })
        try:
            workers = [cluster.add_node(num_cpus=WORKER_CPUS) for _ in range(WORKER_NODES)]
        except BaseException:
            cluster.shutdown()
            raise
    try:
        yield LocalCluster(cluster, workers, f"http://127.0.0.1:{dashboard_port}")
    finally:
        cluster.shutdown()  # every node's processes, the lost one's leftovers (agents) included
