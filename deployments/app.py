"""Application builder named by ``configs/serve.yaml`` (``import_path: deployments.app:build_app``)."""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from deployments.ingress import Ingress


def build_app(args: dict[str, Any] | None = None) -> Application:
    """Compose the deployment graph; replicas, autoscaling and resources come from serve.yaml."""
    return Ingress.bind()
