"""Readiness: each backend's own check, bounded in time, reported as "ok" or the error."""

from __future__ import annotations

import asyncio
from typing import Protocol

CHECK_TIMEOUT_S = 3.0


class Checkable(Protocol):
    name: str

    async def check(self) -> str: ...


async def check_all(backends: dict[str, Checkable]) -> dict[str, str]:
    """``{"<role>:<backend name>": "ok" | "<error>"}``, e.g. ``{"vectors:milvus_lite": "ok"}``."""

    async def one(backend: Checkable) -> str:
        try:
            return await asyncio.wait_for(backend.check(), CHECK_TIMEOUT_S)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    results = await asyncio.gather(*(one(backend) for backend in backends.values()))
    return {f"{role}:{backend.name}": result for (role, backend), result in zip(backends.items(), results)}
