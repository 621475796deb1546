"""``openai`` and ``openai_compatible`` providers: Chat Completions through the official SDK (any base URL).

Structured output per provider option ``structured_output``: ``json_schema``
(native ``response_format``, the default), ``json_object`` or ``instruct``
(the schema in the system prompt) for servers without JSON-schema mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, get_args

import openai

from llm.errors import ProviderMalformedOutput, ProviderNotConfigured
from llm.providers.base import ProviderChunk, ProviderRequest, ProviderResult, ProviderSpec
from llm.providers.sdk_errors import provider_errors
from llm.structured import schema_instruction
from llm.types import ChatMessage, ToolCall, Usage

SDK_TIMEOUT_S = 600.0  # a backstop only: the router's per-attempt timeouts cancel calls earlier
StructuredMode = Literal["json_schema", "json_object", "instruct"]


def openai_messages(request: ProviderRequest, system: str | None) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in request.messages:
        messages.append(_openai_message(message))
    return messages


def _openai_message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        calls = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
        return {"role": "assistant", "content": message.content or None, "tool_calls": calls}
    return {"role": message.role, "content": message.content}


class OpenAIProvider:
    def __init__(self, name: str, client: openai.AsyncOpenAI, *, structured_output: StructuredMode, max_tokens_param: str) -> None:
        self.name = name
        self.client = client
        self._structured_output = structured_output
        self._max_tokens_param = max_tokens_param  # OpenAI wants max_completion_tokens; compatible servers max_tokens

    def _params(self, request: ProviderRequest) -> dict[str, Any]:
        system = request.system
        if request.json_schema is not None and self._structured_output != "json_schema":
            system = "\n\n".join(filter(None, [system, schema_instruction(request.json_schema)]))
        params: dict[str, Any] = {"model": request.model, "messages": openai_messages(request, system)}
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params[self._max_tokens_param] = request.max_tokens
        if request.tools:
            params["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in request.tools
            ]
        if request.json_schema is not None and self._structured_output == "json_schema":
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "structured_output", "schema": request.json_schema, "strict": False},
            }
        elif request.json_schema is not None and self._structured_output == "json_object":
            params["response_format"] = {"type": "json_object"}
        return params

    async def complete(self, request: ProviderRequest) -> ProviderResult:
        with provider_errors(openai):
            completion = await self.client.chat.completions.create(**self._params(request))
        if not completion.choices:
            raise ProviderMalformedOutput("response without choices")
        choice = completion.choices[0]
        calls = [
            ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
            for call in choice.message.tool_calls or []
            if call.type == "function"
        ]
        return ProviderResult(
            content=choice.message.content or "",
            tool_calls=calls,
            usage=_usage(completion.usage),
            finish_reason=choice.finish_reason,
        )

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderChunk]:
        params = {**self._params(request), "stream": True, "stream_options": {"include_usage": True}}
        calls: dict[int, dict[str, str]] = {}  # streamed tool-call fragments by index
        final = ProviderChunk()
        with provider_errors(openai):
            async with await self.client.chat.completions.create(**params) as chunks:
                async for chunk in chunks:
                    final.usage = _usage(chunk.usage) or final.usage
                    for choice in chunk.choices:
                        for fragment in choice.delta.tool_calls or []:
                            call = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
                            call["id"] = fragment.id or call["id"]
                            if fragment.function:
                                call["name"] += fragment.function.name or ""
                                call["arguments"] += fragment.function.arguments or ""
                        final.finish_reason = choice.finish_reason or final.finish_reason
                        if choice.delta.content:
                            yield ProviderChunk(delta=choice.delta.content)
        final.tool_calls = [ToolCall(**calls[index]) for index in sorted(calls)]
        yield final

    async def responses(self, model: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The Responses API, passed through with ``model`` replaced by the upstream id."""
        with provider_errors(openai):
            response = await self.client.responses.create(**{**payload, "model": model})
        return response.model_dump(mode="json")

    async def close(self) -> None:
        await self.client.close()


def _usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    return Usage(input_tokens=usage.prompt_tokens or 0, output_tokens=usage.completion_tokens or 0)


def _build(spec: ProviderSpec, *, max_tokens_param: str) -> OpenAIProvider:
    if spec.type == "openai_compatible" and not spec.base_url:
        raise ProviderNotConfigured(f"provider {spec.name}: no base URL (set base_url, or the variable named by base_url_env)")
    client = openai.AsyncOpenAI(
        api_key=spec.api_key or "not-needed",  # servers such as `vllm serve` run without a key
        base_url=spec.base_url,
        max_retries=0,  # the router retries, not the SDK
        timeout=SDK_TIMEOUT_S,
    )
    structured_output = spec.options.get("structured_output", "json_schema")
    if structured_output not in get_args(StructuredMode):
        raise ValueError(f"provider {spec.name}: options.structured_output must be one of {get_args(StructuredMode)}")
    return OpenAIProvider(spec.name, client, structured_output=structured_output, max_tokens_param=max_tokens_param)


def build_openai(spec: ProviderSpec) -> OpenAIProvider:
    if not spec.api_key:
        raise ProviderNotConfigured(f"provider {spec.name}: no API key")
    return _build(spec, max_tokens_param="max_completion_tokens")


def build_openai_compatible(spec: ProviderSpec) -> OpenAIProvider:
    return _build(spec, max_tokens_param="max_tokens")
