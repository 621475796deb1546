"""cluster/rayservice.yaml without a cluster (fast): its Serve config is a valid one that matches configs/serve.yaml,
names only real, documented settings, scales down only in sizes for the test cluster, and the whole manifest passes
the KubeRay RayService schema shipped in cluster/schema/ (checked by check-jsonschema, the tool CI keeps)."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from runtime.settings import REPO_ROOT, Settings
from tests.cluster import manifest

SCHEMA = REPO_ROOT / "cluster" / "schema" / "rayservice.v1.schema.yaml"
README = REPO_ROOT / "README.md"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)\}")


def deployments(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (app,) = config["applications"]
    return {deployment["name"]: deployment for deployment in app["deployments"]}


def test_serve_config_v2_is_a_serve_config_with_serve_yamls_application_and_deployments() -> None:
    production = manifest.serve_config_v2(manifest.rayservice())
    local = yaml.safe_load(manifest.SERVE_YAML.read_text())
    ServeDeploySchema.model_validate(production)
    (app,), (local_app,) = production["applications"], local["applications"]
    assert (app["name"], app["import_path"], app["route_prefix"]) == (local_app["name"], local_app["import_path"],
                                                                      local_app["route_prefix"])
    assert set(deployments(production)) == set(deployments(local))


def mas_variables(rayservice: dict[str, Any]) -> set[str]:
    """Every MAS_ variable the manifest sets or references: the app's runtime_env and every container's env."""
    env_vars = manifest.serve_config_v2(rayservice)["applications"][0].get("runtime_env", {}).get("env_vars", {})
    named = set(env_vars) | {ref for value in env_vars.values() for ref in VARIABLE.findall(value)}
    named |= {variable["name"] for container in manifest.containers(rayservice) for variable in container.get("env", [])}
    return {name for name in named if name.startswith("MAS_")}


def real_settings() -> set[str]:
    """The settings tree's variables, and the provider keys the LLM catalog (configs/models.yaml) reads."""
    catalog = yaml.safe_load((REPO_ROOT / "configs" / "models.yaml").read_text())
    provider_keys = {provider[field] for provider in catalog["providers"] for field in ("api_key_env", "base_url_env")
                     if provider.get(field)}
    return {f"MAS_{name.upper()}" for name in Settings.model_fields} | provider_keys


def test_every_mas_variable_of_the_manifest_is_a_real_setting_documented_in_the_readme() -> None:
    named = mas_variables(manifest.rayservice())
    assert "MAS_DATABASE_URL" in named and "MAS_JWT_SECRET" in named
    assert named - real_settings() == set(), "not a setting: a typo, or a setting that was renamed"
    readme = README.read_text()
    assert {name for name in named if f"`{name}`" not in readme} == set(), "not in the README's settings table"


def test_every_container_reads_the_same_environment() -> None:
    """One secret per setting on every node: a token issued on one node verifies on all of them."""
    environments = [container.get("env") for container in manifest.containers(manifest.rayservice())]
    assert all(environment == environments[0] for environment in environments)


def sizes_removed(config: dict[str, Any]) -> dict[str, Any]:
    stripped = copy.deepcopy(config)
    stripped.pop("http_options")
    for deployment in deployments(stripped).values():
        for key in ("num_replicas", "autoscaling_config"):
            deployment.pop(key, None)
        deployment.get("ray_actor_options", {}).pop("num_cpus", None)
    return stripped


def test_the_test_cluster_deploys_the_production_config_changed_only_in_sizes() -> None:
    production = manifest.serve_config_v2(manifest.rayservice())
    scaled = manifest.scaled_down_for_a_two_core_box(production, port=18000)
    assert sizes_removed(scaled) == sizes_removed(production)
    ServeDeploySchema.model_validate(scaled)
    for name, deployment in deployments(scaled).items():
        assert 2 <= manifest.replica_count(deployment) <= manifest.MAX_REPLICAS, f"{name}: one node lost would stop it"
        assert 0 < deployment["ray_actor_options"]["num_cpus"] <= 0.05, name


def check(document: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHECK_JSONSCHEMA), "--schemafile", str(SCHEMA), str(document)],
                          capture_output=True, text=True, timeout=60)


def test_the_manifest_passes_the_rayservice_schema() -> None:
    checked = check(manifest.RAYSERVICE)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def set_path(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for step in parents:
        document = document[int(step)] if step.isdigit() else document[step]  # type: ignore[index]
    document[last] = value


@pytest.mark.parametrize(("path", "value"), [
    ("spec.rayClusterConfig.workerGroupSpecs.0.maxReplicas", "ten"),  # a count as a word
    ("spec.rayClusterConfig.authOptions.mode", "password"),  # not a KubeRay auth mode
    ("spec.rayClusterConfig.workerGroupSpecs.0.template.spec.containers.0.resources.limits.cpu", "four"),  # not a quantity
    ("spec.rayClusterConfig.headGroupSpec.template.spec.containers.0.env.0.valueFrom", {"secretRef": {"name": "x"}}),
    ("spec.rayClusterConfig.workerGroupSpec", []),  # a misspelt field (kubectl's strict field validation refuses it)
    ("spec.serveConfigV2", {"applications": []}),  # the Serve config must be a string (a YAML document)
])
def test_a_broken_manifest_is_rejected(tmp_path: Path, path: str, value: Any) -> None:
    broken = manifest.rayservice()
    set_path(broken, path, value)
    (tmp_path / "rayservice.yaml").write_text(yaml.safe_dump(broken, allow_unicode=True))
    checked = check(tmp_path / "rayservice.yaml")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "Schema validation errors" in checked.stdout + checked.stderr
