"""The HTTP ingress: the FastAPI app of ``api/`` served by a Ray Serve deployment."""

from __future__ import annotations

from fastapi import FastAPI
from ray import serve

from api.app import create_app
from mas.settings import Settings


@serve.deployment(name="Ingress")
@serve.ingress()
class Ingress:
    """Builds the app inside the replica (late-bound), so nothing heavy is pickled with the class."""

    def __init__(self) -> None:
        self._settings = Settings()

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self._settings, behind_serve_proxy=True)
