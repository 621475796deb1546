"""The router's ``vllm`` provider over a test double of the VLLMServer client: request and chunk translation, errors, close."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from llm.errors import ProviderNotConfigured, ProviderRejected, ProviderServerError
from llm.providers.base import ProviderChunk, ProviderRequest, ProviderResult, ProviderSpec, build_provider
from llm.providers.vllm import VLLMProvider, build, to_vllm_request
from llm.types import ChatMessage, ToolCall, ToolSpec, Usage
from llm.vllm_engine import VLLMChunk, VLLMRequest, VLLMUsage

REPLY = [
    VLLMChunk(delta="您好，"),
    VLLMChunk(delta="水光针"),
    VLLMChunk(delta="一次约800元。", finish_reason="stop", usage=VLLMUsage(prompt_tokens=31, completion_tokens=9)),
]


class FakeVLLMClient:
    """Stands in for the deployment's wrapper around the VLLMServer handle: replays chunks, then maybe fails."""

    def __init__(self, chunks: list[VLLMChunk], error: Exception | None = None) -> None:
        self.chunks = chunks
        self.error = error
        self.requests: list[VLLMRequest] = []
        self.sent = 0
        self.closed = False

    async def stream(self, request: VLLMRequest) -> AsyncIterator[VLLMChunk]:
        self.requests.append(request)
        try:
            for chunk in self.chunks:
                self.sent += 1
                yield chunk
            if self.error is not None:
                raise self.error
        finally:
            self.closed = True


def provider_request(**fields: Any) -> ProviderRequest:
    return ProviderRequest(**{"model": "Qwen/Qwen2.5-7B-Instruct", "messages": [ChatMessage(role="user", content="水光针多少钱")],
                              **fields})


def test_request_carries_the_routers_fields_and_the_models_sampling_options() -> None:
    schema = {"type": "object", "properties": {"price": {"type": "number"}}}
    vllm_request = to_vllm_request(provider_request(
        system="You are Mia.", temperature=0.3, max_tokens=200, json_schema=schema,
        options={"top_p": 0.8, "stop": ["<|im_end|>"], "seed": 1, "default_max_tokens": 512},
    ))
    assert vllm_request == VLLMRequest(
        model="Qwen/Qwen2.5-7B-Instruct", messages=[ChatMessage(role="user", content="水光针多少钱")], system="You are Mia.",
        temperature=0.3, max_tokens=200, json_schema=schema, top_p=0.8, stop=["<|im_end|>"], seed=1,
    )


@pytest.mark.parametrize("fields", [
    {"tools": [ToolSpec(name="book_appointment")]},
    {"messages": [ChatMessage(role="assistant", tool_calls=[ToolCall(id="c1", name="book_appointment", arguments="{}")]),
                  ChatMessage(role="tool", content="booked", tool_call_id="c1")]},
])
def test_tool_calls_are_refused_so_the_router_falls_back(fields: dict[str, Any]) -> None:
    with pytest.raises(ProviderRejected, match="tool calls") as caught:
        to_vllm_request(provider_request(**fields))
    assert caught.value.retryable is False


def test_a_malformed_sampling_option_is_a_rejected_request() -> None:
    with pytest.raises(ProviderRejected, match="models.yaml"):
        to_vllm_request(provider_request(options={"top_p": "high"}))


async def test_stream_maps_chunks_and_usage() -> None:
    client = FakeVLLMClient(REPLY)
    chunks = [chunk async for chunk in VLLMProvider("gpu", client).stream(provider_request())]
    assert chunks == [
        ProviderChunk(delta="您好，"),
        ProviderChunk(delta="水光针"),
        ProviderChunk(delta="一次约800元。", finish_reason="stop", usage=Usage(input_tokens=31, output_tokens=9)),
    ]
    assert client.requests[0].model == "Qwen/Qwen2.5-7B-Instruct"


async def test_complete_collects_the_stream() -> None:
    result = await VLLMProvider("gpu", FakeVLLMClient(REPLY)).complete(provider_request())
    assert result == ProviderResult(content="您好，水光针一次约800元。", usage=Usage(input_tokens=31, output_tokens=9),
                                    finish_reason="stop")


async def test_closing_the_provider_stream_early_closes_the_replica_stream() -> None:
    client = FakeVLLMClient(REPLY)
    stream = VLLMProvider("gpu", client).stream(provider_request())
    assert (await anext(stream)).delta == "您好，"
    await stream.aclose()
    assert client.closed
    assert client.sent == 1


async def test_provider_errors_from_the_replica_pass_through_unchanged() -> None:
    rejected = ProviderRejected("the prompt leaves no room in the model's 4096-token context", status=400)
    with pytest.raises(ProviderRejected) as caught:
        await VLLMProvider("gpu", FakeVLLMClient([], error=rejected)).complete(provider_request())
    assert caught.value is rejected


async def test_other_failures_of_the_call_are_retryable_server_errors() -> None:
    client = FakeVLLMClient(REPLY[:1], error=ConnectionResetError("replica died"))
    with pytest.raises(ProviderServerError, match="ConnectionResetError: replica died") as caught:
        await VLLMProvider("gpu", client).complete(provider_request())
    assert caught.value.retryable


def test_built_from_the_registry_with_the_injected_client() -> None:
    client = FakeVLLMClient(REPLY)
    provider = build_provider(ProviderSpec(name="gpu", type="vllm", client=client))
    assert isinstance(provider, VLLMProvider) and provider.name == "gpu"
    with pytest.raises(ProviderNotConfigured, match="no VLLMServer"):
        build(ProviderSpec(name="gpu", type="vllm"))
