"""cluster/rayservice.yaml as the tests read it: its Serve config (``serveConfigV2``), the environment its pods give
every Ray container, and the one change the local test cluster makes to it (``scaled_down_for_a_two_core_box``)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from runtime.settings import REPO_ROOT

RAYSERVICE = REPO_ROOT / "cluster" / "rayservice.yaml"
SERVE_YAML = REPO_ROOT / "configs" / "serve.yaml"

# The local cluster's two worker nodes have one (logical) CPU each, where a production worker pod has four and more
# nodes: every replica's CPU share is divided by ten and no deployment runs more than two replicas (one per worker).
CPU_SCALE = 0.1
MAX_REPLICAS = 2


def rayservice(path: Path = RAYSERVICE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def serve_config_v2(manifest: dict[str, Any]) -> dict[str, Any]:
    """The Serve config KubeRay applies through the dashboard: ``spec.serveConfigV2``, a YAML document in a string."""
    return yaml.safe_load(manifest["spec"]["serveConfigV2"])


def head_start_params(manifest: dict[str, Any]) -> dict[str, str]:
    return manifest["spec"]["rayClusterConfig"]["headGroupSpec"]["rayStartParams"]


def containers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Ray container of the cluster: the head's, then each worker group's."""
    cluster = manifest["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [container for group in groups for container in group["template"]["spec"]["containers"]]


def pod_environment(manifest: dict[str, Any], secrets: dict[str, str]) -> dict[str, str]:
    """The head container's environment with ``secrets`` standing for the Secret its ``secretKeyRef``s name. A key the
    manifest reads that ``secrets`` lacks is a KeyError: a secret added to the manifest must be given here too."""
    environment: dict[str, str] = {}
    for variable in containers(manifest)[0]["env"]:
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
        else:
            environment[variable["name"]] = secrets[variable["valueFrom"]["secretKeyRef"]["key"]]
    return environment


def scaled_down_for_a_two_core_box(config: dict[str, Any], port: int) -> dict[str, Any]:
    """The production Serve config with only its sizes changed, for a head and two one-CPU workers on one machine:
    at most ``MAX_REPLICAS`` replicas per deployment (autoscaling pinned there: a 2-core box has no room to scale
    out), ``CPU_SCALE`` times each replica's CPUs, and the HTTP port on loopback. Everything else (import path,
    runtime_env with its ``${VAR}`` references, max_ongoing_requests, health checks) is deployed as written."""
    scaled = copy.deepcopy(config)
    scaled["http_options"] = {**scaled.get("http_options", {}), "host": "127.0.0.1", "port": port}
    for app in scaled["applications"]:
        for deployment in app["deployments"]:
            if autoscaling := deployment.get("autoscaling_config"):
                replicas = min(autoscaling["min_replicas"], MAX_REPLICAS)
                autoscaling.update(min_replicas=replicas, max_replicas=replicas)
                autoscaling.pop("initial_replicas", None)
            if "num_replicas" in deployment:
                deployment["num_replicas"] = min(deployment["num_replicas"], MAX_REPLICAS)
            options = deployment.setdefault("ray_actor_options", {})
            options["num_cpus"] = round(options.get("num_cpus", 1) * CPU_SCALE, 3)
    return scaled


def replica_count(deployment: dict[str, Any]) -> int:
    """The replicas a deployment of a Serve config starts with."""
    if autoscaling := deployment.get("autoscaling_config"):
        return autoscaling.get("initial_replicas") or autoscaling["min_replicas"]
    return deployment.get("num_replicas", 1)
