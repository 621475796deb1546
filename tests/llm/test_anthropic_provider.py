"""The anthropic provider: the real ``anthropic`` SDK against FakeAnthropicServer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from llm.errors import (
    ProviderConnectionError,
    ProviderMalformedOutput,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
)
from llm.providers.anthropic import AnthropicProvider
from llm.providers.base import ProviderRequest, ProviderSpec, build_provider, collect
from llm.types import ChatMessage, ToolCall, ToolSpec, Usage
from tests.llm.fake_servers import FakeAnthropicServer, Reply

BOOK = ToolSpec(name="book", description="预约到店", parameters={"type": "object", "properties": {"time": {"type": "string"}}})


@pytest.fixture
async def anthropic_provider(anthropic_server: FakeAnthropicServer) -> AsyncIterator[AnthropicProvider]:
    spec = ProviderSpec(name="anthropic", type="anthropic", api_key="sk-ant-test", base_url=anthropic_server.url)
    provider = build_provider(spec)
    yield provider
    await provider.close()


def request(**fields: object) -> ProviderRequest:
    return ProviderRequest(model="claude-test", messages=[ChatMessage(role="user", content="推荐一下补水项目")], **fields)


async def test_system_prompt_is_its_own_parameter_and_tool_turns_are_blocks(
    anthropic_server: FakeAnthropicServer, anthropic_provider: AnthropicProvider
) -> None:
    anthropic_server.script(Reply(text="已为您预约。", usage=(40, 6)))
    history = [
        ChatMessage(role="system", content="语气亲切"),
        ChatMessage(role="user", content="帮我约明天"),
        ChatMessage(role="assistant", content="好的", tool_calls=[ToolCall(id="t1", name="book", arguments='{"time": "明天"}')]),
        ChatMessage(role="tool", tool_call_id="t1", content="已预约"),
        ChatMessage(role="user", content="谢谢"),
    ]
    result = await anthropic_provider.complete(
        ProviderRequest(model="claude-test", system="你是顾问", messages=history, temperature=0.2, tools=[BOOK])
    )

    assert (result.content, result.usage, result.finish_reason) == ("已为您预约。", Usage(input_tokens=40, output_tokens=6), "stop")
    sent = anthropic_server.requests[0]
    assert anthropic_server.headers[0]["authorization"] == "Bearer sk-ant-test"
    assert sent["system"] == "你是顾问\n\n语气亲切" and sent["max_tokens"] == 1024
    assert "temperature" not in sent  # the Messages API rejects sampling parameters
    assert [turn["role"] for turn in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"][1] == {"type": "tool_use", "id": "t1", "name": "book", "input": {"time": "明天"}}
    assert sent["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "已预约"},
        {"type": "text", "text": "谢谢"},
    ]
    assert sent["tools"] == [{"name": "book", "description": "预约到店", "input_schema": BOOK.parameters}]


async def test_tool_use_comes_back_from_messages_and_streams(
    anthropic_server: FakeAnthropicServer, anthropic_provider: AnthropicProvider
) -> None:
    anthropic_server.script(Reply(text="我来预约", tool_calls=[("toolu_1", "book", '{"time": "明天下午3点"}')]))
    expected = [ToolCall(id="toolu_1", name="book", arguments='{"time": "明天下午3点"}')]
    complete = await anthropic_provider.complete(request(tools=[BOOK]))
    assert complete.tool_calls == expected and complete.finish_reason == "tool_calls"

    streamed = await collect(anthropic_provider.stream(request(tools=[BOOK])))
    assert streamed.content == "我来预约" and streamed.tool_calls == expected


async def test_stream_yields_text_deltas_with_usage_at_the_end(
    anthropic_server: FakeAnthropicServer, anthropic_provider: AnthropicProvider
) -> None:
    anthropic_server.script(Reply(text="您好，欢迎咨询水光针项目", usage=(25, 13)))
    chunks = [chunk async for chunk in anthropic_provider.stream(request(max_tokens=64))]
    assert [chunk.delta for chunk in chunks if chunk.delta] == ["您好，欢", "迎咨询水", "光针项目"]
    assert chunks[-1].usage == Usage(input_tokens=25, output_tokens=13) and chunks[-1].finish_reason == "stop"
    assert anthropic_server.requests[0]["stream"] is True and anthropic_server.requests[0]["max_tokens"] == 64


async def test_structured_output_is_asked_for_in_the_system_prompt(
    anthropic_server: FakeAnthropicServer, anthropic_provider: AnthropicProvider
) -> None:
    anthropic_server.script(Reply(text='{"ok": true}'))
    await anthropic_provider.complete(request(json_schema={"type": "object", "properties": {"ok": {"type": "boolean"}}}))
    assert "JSON Schema" in anthropic_server.requests[0]["system"] and '"ok"' in anthropic_server.requests[0]["system"]


@pytest.mark.parametrize(
    ("reply", "error", "retry_after"),
    [
        (Reply.error(429, "rate limited", retry_after=7), ProviderRateLimited, 7.0),
        (Reply.error(529, "overloaded"), ProviderServerError, None),
        (Reply.error(500, "boom"), ProviderServerError, None),
        (Reply.error(400, "bad request"), ProviderRejected, None),
        (Reply(raw_body="{not json"), ProviderMalformedOutput, None),
    ],
)
async def test_http_errors_map_to_provider_errors(
    anthropic_server: FakeAnthropicServer, anthropic_provider: AnthropicProvider, reply: Reply, error: type, retry_after: float | None
) -> None:
    for call in (anthropic_provider.complete, lambda req: collect(anthropic_provider.stream(req))):
        anthropic_server.script(reply)
        with pytest.raises(error) as raised:
            await call(request())
        assert raised.value.retry_after == retry_after


async def test_a_stream_cut_off_mid_way_is_a_connection_error(
    anthropic_server: FakeAnthropicServer, anthropic_provider: AnthropicProvider
) -> None:
    anthropic_server.script(Reply(text="这句话没有说完就断了", cut_after=3))
    received = []
    with pytest.raises(ProviderConnectionError):
        async for chunk in anthropic_provider.stream(request()):
            received.append(chunk.delta)
    assert received == ["这句话没"]
