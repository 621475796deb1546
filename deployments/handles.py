"""Deployment handles that look like the local objects they stand for, so ``api/`` and ``agents/`` never import Ray."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from ray.exceptions import RayTaskError
from ray.serve.handle import DeploymentHandle


class HandleClient:
    """``await client.method(...)`` calls the deployment's method; names in ``streams`` return async iterators.

    A deployment's own exception (an ``LLMError`` with its status and code,
    say) is re-raised as itself, not wrapped in Ray's ``RayTaskError``, so
    callers handle it exactly as they would in-process.
    """

    def __init__(self, handle: DeploymentHandle, streams: frozenset[str] = frozenset()) -> None:
        self._handle = handle
        self._streams = streams

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._streams:
            return lambda *args, **kwargs: self._stream(name, args, kwargs)
        return lambda *args, **kwargs: self._call(name, args, kwargs)

    async def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return await getattr(self._handle, name).remote(*args, **kwargs)
        except RayTaskError as exc:
            raise _cause(exc) from None

    async def _stream(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        response = self._handle.options(method_name=name, stream=True).remote(*args, **kwargs)
        try:
            async for item in response:
                yield item
        except RayTaskError as exc:
            raise _cause(exc) from None
        finally:
            # A consumer that stops early (client gone) must stop the replica's generator too:
            # Serve does not cancel an abandoned stream by itself. No-op once it has finished.
            response.cancel()

def _cause(exc: RayTaskError) -> BaseException:
    cause = exc.cause
    return cause if isinstance(cause, Exception) else exc
