"""The provider interface the router calls, and the registry that builds providers by their ``type`` in models.yaml.

A provider talks to one backend (an SDK client, the in-cluster vLLM handle,
the offline placeholder). It does one call per method and never retries: the
router owns retries, timeouts, fallback and cost. Failures are raised as the
``ProviderError`` subclasses of ``llm.errors`` (``error_for_status`` maps an
HTTP status), so the router can tell retryable ones from the others.

Streams yield only meaningful chunks (text, finished tool calls, usage,
finish reason); the router counts the first chunk as the first token.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from llm.errors import (
    ProviderError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
    ProviderTimeout,
)
from llm.types import ChatMessage, ToolCall, ToolSpec, Usage


class ProviderRequest(BaseModel):
    """One call to one model, as the router hands it to a provider."""

    model: str  # the upstream model id (models.yaml `model`, default its `name`)
    messages: list[ChatMessage]
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    tools: list[ToolSpec] = []
    json_schema: dict[str, Any] | None = None  # answer with JSON text valid against it (the router validates)
    options: dict[str, Any] = {}  # the model's `options` from models.yaml (provider-specific knobs)


class ProviderChunk(BaseModel):
    delta: str = ""
    tool_calls: list[ToolCall] = []  # complete calls (providers assemble streamed fragments)
    usage: Usage | None = None  # as reported by the backend, usually on the last chunk
    finish_reason: str | None = None


class ProviderResult(BaseModel):
    content: str = ""
    tool_calls: list[ToolCall] = []
    usage: Usage | None = None  # None when the backend reports none (the router estimates)
    finish_reason: str | None = None


class Provider(Protocol):
    name: str  # the provider's name in models.yaml

    async def complete(self, request: ProviderRequest) -> ProviderResult: ...

    def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderChunk]:
        """An async generator; closing it early must cancel the backend request."""
        ...

    async def close(self) -> None: ...


class ProviderSpec(BaseModel):
    """Everything a factory needs to build one provider; credentials are already resolved from the environment."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    type: str
    api_key: str | None = None
    base_url: str | None = None
    options: dict[str, Any] = {}  # the provider's `options` from models.yaml
    overrides: dict[str, Any] = {}  # settings that win over per-model options (simulated: MAS_SIMULATED_* env)
    client: Any = None  # an injected client (vllm: the deployment's wrapper around the VLLMServer handle)


# type in models.yaml -> "module:function" building it from a ProviderSpec; imported lazily so that a
# missing optional module (llm.providers.vllm) only disables its own models.
FACTORIES: dict[str, str] = {
    "openai": "llm.providers.openai:build_openai",
    "openai_compatible": "llm.providers.openai:build_openai_compatible",
    "anthropic": "llm.providers.anthropic:build",
    "vllm": "llm.providers.vllm:build",
    "offline": "llm.providers.offline:build",
    "simulated": "llm.providers.simulated:build",
}
PROVIDER_TYPES = tuple(FACTORIES)


def build_provider(spec: ProviderSpec) -> Provider:
    """Build the provider for ``spec``; ``ProviderNotConfigured`` when it cannot run here."""
    module_name, function = FACTORIES[spec.type].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ProviderNotConfigured(f"provider module {module_name} is not available ({exc})") from exc
    return getattr(module, function)(spec)


def error_for_status(status: int, message: str, retry_after: float | None = None) -> ProviderError:
    """The provider error for an HTTP status: 429 and 5xx (and 408) are retryable, other 4xx are not."""
    if status == 429:
        return ProviderRateLimited(message, status=status, retry_after=retry_after)
    if status == 408:
        return ProviderTimeout(message, status=status)
    if status >= 500:
        return ProviderServerError(message, status=status, retry_after=retry_after)
    return ProviderRejected(message, status=status)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (only the delta-seconds form; HTTP dates are ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class ChunkAccumulator:
    """Folds stream chunks into the result a non-streaming call would have returned."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._result = ProviderResult()

    def add(self, chunk: ProviderChunk) -> None:
        self._parts.append(chunk.delta)
        self._result.tool_calls.extend(chunk.tool_calls)
        self._result.usage = chunk.usage or self._result.usage
        self._result.finish_reason = chunk.finish_reason or self._result.finish_reason

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def result(self) -> ProviderResult:
        return self._result.model_copy(update={"content": self.text})


async def collect(chunks: AsyncIterator[ProviderChunk]) -> ProviderResult:
    """``complete`` for providers that only stream natively."""
    accumulator = ChunkAccumulator()
    async for chunk in chunks:
        accumulator.add(chunk)
    return accumulator.result()
