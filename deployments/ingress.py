"""The HTTP ingress: the FastAPI app of ``api/`` served by a Ray Serve deployment."""

from __future__ import annotations

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from api.app import create_app
from deployments.agents import Overrides, handle_backends
from deployments.replica import replica_settings


@serve.deployment(name="Ingress")
@serve.ingress()
class Ingress:
    """Builds the app inside the replica (late-bound), so nothing heavy is pickled with the class."""

    def __init__(self, settings: Overrides = None, **handles: DeploymentHandle) -> None:
        """``handles``: every deployment the API calls, by name (``deployments.app.build_app``)."""
        self._settings = replica_settings(settings)
        self._backends = handle_backends(handles)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self._settings, behind_serve_proxy=True, backends=self._backends)
