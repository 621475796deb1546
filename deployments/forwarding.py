"""Deployments that serve an object's public methods as their own, so each deployment class stays a few lines."""

from __future__ import annotations

from typing import Any


class Serves:
    """Handle calls to ``method`` run ``self.target.method`` (async generators stream as they do in-process).

    Only public names are forwarded: Serve probes private and dunder hooks on
    the deployment and must see them missing unless the class defines them.
    """

    target: Any

    def __getattr__(self, name: str) -> Any:
        target = self.__dict__.get("target")
        if name.startswith("_") or target is None:
            raise AttributeError(name)
        return getattr(target, name)
