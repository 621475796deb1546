"""configs/serve.yaml is a valid Serve config whose deployments all exist in the built application."""

from __future__ import annotations

import yaml
from ray.serve import Application, Deployment
from ray.serve.schema import ServeDeploySchema

from deployments.app import build_app
from runtime.settings import Settings


def _config() -> ServeDeploySchema:
    return ServeDeploySchema.model_validate(yaml.safe_load((Settings().config_dir / "serve.yaml").read_text()))


def test_serve_yaml_names_the_app_builder_and_only_real_deployments() -> None:
    config = _config()
    (app,) = config.applications
    assert app.import_path == "deployments.app:build_app" and app.route_prefix == "/"
    assert {d.name for d in app.deployments} <= {d.name for d in _deployments(build_app({}))}


def test_light_async_deployments_fit_a_small_box() -> None:
    """num_cpus 0 so they schedule on 2 cores; high max_ongoing_requests so fan-out does not queue at 5."""
    for deployment in _config().applications[0].deployments:
        assert deployment.ray_actor_options.num_cpus == 0
        assert deployment.max_ongoing_requests >= 100


def _deployments(application: Application) -> list[Deployment]:
    """Every deployment reachable from the application's ingress (its bind arguments, recursively)."""
    found: list[Deployment] = []
    stack = [application._bound_deployment]
    while stack:
        deployment = stack.pop()
        found.append(deployment)
        stack.extend(a._bound_deployment for a in (*deployment.init_args, *deployment.init_kwargs.values()) if hasattr(a, "_bound_deployment"))
    return found


def test_a_vllm_model_puts_a_vllm_server_behind_the_router() -> None:
    deployments = {d.name: d for d in _deployments(build_app({"vllm_model": "qwen-local", "vllm_provider": "gpu"}))}
    assert deployments["VLLMServer"].init_kwargs == {"model": "qwen-local", "settings": {}}
    assert deployments["LLMRouter"].init_kwargs["vllm_provider"] == "gpu"
    assert "VLLMServer" not in {d.name for d in _deployments(build_app({}))}


def test_settings_in_the_serve_config_reach_every_deployment() -> None:
    """``args: {settings: ...}``: a ``serve deploy`` config alone configures the cluster, over each replica's environment."""
    overrides = {"database_url": "postgresql+asyncpg://mas@db/mas", "window_size": 12}
    deployments = _deployments(build_app({"settings": overrides, "vllm_model": "qwen-local"}))
    assert len({d.name for d in deployments}) == 13 and all(d.init_kwargs["settings"] == overrides for d in deployments)
    replica = Settings(**overrides)
    assert (replica.database_url, replica.window_size) == (overrides["database_url"], 12)
