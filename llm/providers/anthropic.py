"""``anthropic`` provider: the Messages API through the official SDK.

The system prompt is its own parameter (system messages in the conversation
join it), tool results go back as ``tool_result`` blocks, and structured
output is asked for in the system prompt (the router validates the answer).
``temperature`` is not sent: the current Messages API version rejects sampling
parameters and SDK 2.x no longer takes them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic

from llm.errors import ProviderNotConfigured
from llm.providers.base import ProviderChunk, ProviderRequest, ProviderResult, ProviderSpec
from llm.providers.sdk_errors import provider_errors
from llm.structured import schema_instruction
from llm.types import ChatMessage, ToolCall, Usage

SDK_TIMEOUT_S = 600.0  # a backstop only: the router's per-attempt timeouts cancel calls earlier
DEFAULT_MAX_TOKENS = 1024  # the Messages API requires max_tokens; provider option `max_tokens` changes it
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [{"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    for call in message.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": json.loads(call.arguments or "{}")})
    return blocks


def anthropic_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """User/assistant turns; tool results are user turns, and adjacent turns of one role are merged."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(_blocks(message))
        else:
            turns.append({"role": role, "content": _blocks(message)})
    return turns


def anthropic_system(request: ProviderRequest) -> str | None:
    parts = [request.system, *(message.content for message in request.messages if message.role == "system")]
    if request.json_schema is not None:
        parts.append(schema_instruction(request.json_schema))
    return "\n\n".join(part for part in parts if part) or None


class AnthropicProvider:
    def __init__(self, name: str, client: anthropic.AsyncAnthropic, *, default_max_tokens: int) -> None:
        self.name = name
        self.client = client
        self._default_max_tokens = default_max_tokens

    def _params(self, request: ProviderRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens or self._default_max_tokens,
            "messages": anthropic_messages(request.messages),
        }
        if system := anthropic_system(request):
            params["system"] = system
        if request.tools:
            params["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in request.tools]
        return params

    async def complete(self, request: ProviderRequest) -> ProviderResult:
        with provider_errors(anthropic):
            message = await self.client.messages.create(**self._params(request))
        return ProviderResult(
            content="".join(block.text for block in message.content if block.type == "text"),
            tool_calls=[
                ToolCall(id=block.id, name=block.name, arguments=json.dumps(block.input, ensure_ascii=False))
                for block in message.content
                if block.type == "tool_use"
            ],
            usage=Usage(input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens),
            finish_reason=FINISH_REASONS.get(message.stop_reason or "", message.stop_reason),
        )

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderChunk]:
        calls: dict[int, dict[str, str]] = {}  # tool_use blocks by content index, input JSON as it streams
        usage = Usage()
        final = ProviderChunk()
        with provider_errors(anthropic):
            async with await self.client.messages.create(**self._params(request), stream=True) as events:
                async for event in events:
                    if event.type == "message_start":
                        usage.input_tokens = event.message.usage.input_tokens
                    elif event.type == "content_block_start" and event.content_block.type == "tool_use":
                        calls[event.index] = {"id": event.content_block.id, "name": event.content_block.name, "arguments": ""}
                    elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                        yield ProviderChunk(delta=event.delta.text)
                    elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                        calls[event.index]["arguments"] += event.delta.partial_json
                    elif event.type == "message_delta":
                        usage.output_tokens = event.usage.output_tokens
                        reason = event.delta.stop_reason
                        final.finish_reason = FINISH_REASONS.get(reason or "", reason)
        final.tool_calls = [ToolCall(**{**call, "arguments": call["arguments"] or "{}"}) for _, call in sorted(calls.items())]
        final.usage = usage
        yield final

    async def close(self) -> None:
        await self.client.close()


def build(spec: ProviderSpec) -> AnthropicProvider:
    if not spec.api_key:
        raise ProviderNotConfigured(f"provider {spec.name}: no API key")
    client = anthropic.AsyncAnthropic(api_key=spec.api_key, base_url=spec.base_url, max_retries=0, timeout=SDK_TIMEOUT_S)
    return AnthropicProvider(spec.name, client, default_max_tokens=int(spec.options.get("max_tokens", DEFAULT_MAX_TOKENS)))
