"""Deployment handles that look like the local objects they stand for, so ``api/`` and ``agents/`` never import Ray."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

from ray.exceptions import RayActorError, RayTaskError
from ray.serve.handle import DeploymentHandle

from agents.graph import ReplicaLost

# A replica that dies mid-call (SIGKILL, OOM, node loss) fails the call with RayActorError; Serve routes the
# retry to another replica, or to the restarted one once the controller has replaced it.
RETRY_DELAYS_S = (0.1, 0.5, 1.0, 2.0)
T = TypeVar("T")


class HandleClient:
    """``await client.method(...)`` calls the deployment's method; names in ``streams`` return async iterators.

    A deployment's own exception (an ``LLMError`` with its status and code,
    say) is re-raised as itself, not wrapped in Ray's ``RayTaskError``, so
    callers handle it exactly as they would in-process.
    """

    def __init__(self, handle: DeploymentHandle, streams: frozenset[str] = frozenset()) -> None:
        self._handle = handle
        self._streams = streams
        self._name = handle.deployment_name

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._streams:
            return lambda *args, **kwargs: self._stream(name, args, kwargs)
        return lambda *args, **kwargs: self._call(name, args, kwargs)

    async def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """One call; repeated on another replica when the one serving it died (every unary method here is safe to
        repeat: checks, reads, and writes keyed by their content)."""
        for delay_s in (*RETRY_DELAYS_S, None):
            try:
                return await getattr(self._handle, name).remote(*args, **kwargs)
            except RayTaskError as exc:
                raise _cause(exc) from None
            except RayActorError as exc:
                if delay_s is None:
                    raise ReplicaLost(f"{self._name}.{name}: {exc}") from exc
                await asyncio.sleep(delay_s)

    async def _stream(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """A stream; started again when its replica died before the first item, else ReplicaLost."""
        for delay_s in (*RETRY_DELAYS_S, None):
            response = self._handle.options(method_name=name, stream=True).remote(*args, **kwargs)
            started = False
            try:
                async for item in response:
                    started = True
                    yield item
                return
            except RayTaskError as exc:
                raise _cause(exc) from None
            except RayActorError as exc:
                if started or delay_s is None:
                    raise ReplicaLost(f"{self._name}.{name}: {exc}") from exc
            finally:
                # A consumer that stops early (client gone) must stop the replica's generator too:
                # Serve does not cancel an abandoned stream by itself. No-op once it has finished.
                response.cancel()
            await asyncio.sleep(delay_s)

def client(handle: DeploymentHandle, kind: type[T], streams: frozenset[str] = frozenset()) -> T:
    """A ``HandleClient`` typed as ``kind``, the local class whose methods the deployment serves."""
    return cast(T, HandleClient(handle, streams))


def _cause(exc: RayTaskError) -> BaseException:
    cause = exc.cause
    return cause if isinstance(cause, Exception) else exc
