"""The HTTP ingress: the FastAPI app of ``api/`` served by a Ray Serve deployment."""

from __future__ import annotations

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from api.app import create_app
from api.backends import Backends
from deployments.handles import HandleClient
from mas.settings import Settings


@serve.deployment(name="Ingress")
@serve.ingress()
class Ingress:
    """Builds the app inside the replica (late-bound), so nothing heavy is pickled with the class."""

    def __init__(self, llm_router: DeploymentHandle, memory: DeploymentHandle, product: DeploymentHandle) -> None:
        self._settings = Settings()
        self._backends = Backends(
            llm=HandleClient(llm_router, streams=frozenset({"stream"})),  # type: ignore[arg-type]
            memory=HandleClient(memory),  # type: ignore[arg-type]
            products=HandleClient(product),  # type: ignore[arg-type]
        )

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self._settings, behind_serve_proxy=True, backends=self._backends)
