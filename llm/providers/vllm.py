"""The ``vllm`` provider: the router's side of the in-cluster ``VLLMServer`` deployment.

It talks to an injected client (``ProviderSpec.client``) with
``stream(VLLMRequest) -> AsyncIterator[VLLMChunk]``: in Serve, the deployment
layer's wrapper around the ``VLLMServer`` handle. Errors the replica raises
(``ProviderError``s from ``llm.vllm_engine``) pass through as they are; any
other failure of the call (a dead replica, an overloaded deployment) is a
retryable server error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Protocol

from pydantic import ValidationError

from llm.errors import ProviderError, ProviderNotConfigured, ProviderRejected, ProviderServerError
from llm.providers.base import ProviderChunk, ProviderRequest, ProviderResult, ProviderSpec, collect
from llm.types import Usage
from llm.vllm_engine import VLLMChunk, VLLMRequest

# Keys of a model's `options` in models.yaml that become sampling settings on every request.
SAMPLING_OPTIONS = ("top_p", "stop", "seed")


class VLLMClient(Protocol):
    def stream(self, request: VLLMRequest) -> AsyncIterator[VLLMChunk]:
        """An async generator; closing it must cancel the request on the replica."""
        ...


def to_vllm_request(request: ProviderRequest) -> VLLMRequest:
    """The replica's request; tool calls are refused (no model-specific tool parser here), so the router falls back."""
    if request.tools or any(message.role == "tool" or message.tool_calls for message in request.messages):
        raise ProviderRejected("the in-cluster vLLM provider does not support tool calls", status=400)
    options = {key: request.options[key] for key in SAMPLING_OPTIONS if key in request.options}
    try:
        return VLLMRequest(
            model=request.model,
            messages=request.messages,
            system=request.system,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            json_schema=request.json_schema,
            **options,
        )
    except ValidationError as exc:
        raise ProviderRejected(f"invalid vLLM request (check the model's options in models.yaml): {exc}", status=400) from exc


def to_provider_chunk(chunk: VLLMChunk) -> ProviderChunk:
    usage = None
    if chunk.usage is not None:
        usage = Usage(input_tokens=chunk.usage.prompt_tokens, output_tokens=chunk.usage.completion_tokens)
    return ProviderChunk(delta=chunk.delta, usage=usage, finish_reason=chunk.finish_reason)


class VLLMProvider:
    def __init__(self, name: str, client: VLLMClient) -> None:
        self.name = name
        self._client = client

    async def complete(self, request: ProviderRequest) -> ProviderResult:
        return await collect(self.stream(request))

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderChunk]:
        vllm_request = to_vllm_request(request)
        try:
            async with aclosing(self._client.stream(vllm_request)) as chunks:
                async for chunk in chunks:
                    yield to_provider_chunk(chunk)
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderServerError(f"VLLMServer call failed: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        """Nothing to release: the client belongs to the deployment that injected it."""


def build(spec: ProviderSpec) -> VLLMProvider:
    if spec.client is None:
        raise ProviderNotConfigured(f"provider {spec.name!r}: no VLLMServer deployment to call (add one to serve.yaml)")
    return VLLMProvider(spec.name, spec.client)
