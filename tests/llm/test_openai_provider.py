"""The openai / openai_compatible providers: the real ``openai`` SDK against FakeOpenAIServer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from llm.errors import (
    ProviderConnectionError,
    ProviderMalformedOutput,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
)
from llm.providers.base import ProviderRequest, ProviderSpec, build_provider, collect
from llm.providers.openai import OpenAIProvider
from llm.types import ChatMessage, ToolCall, ToolSpec, Usage
from tests.llm.fake_servers import FakeOpenAIServer, Reply

SCHEMA = {"type": "object", "required": ["tags"], "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}
BOOK = ToolSpec(name="book", description="预约到店", parameters={"type": "object", "properties": {"time": {"type": "string"}}})


@pytest.fixture
async def openai_provider(openai_server: FakeOpenAIServer) -> AsyncIterator[OpenAIProvider]:
    provider = build_provider(ProviderSpec(name="openai", type="openai", api_key="sk-test", base_url=f"{openai_server.url}/v1"))
    yield provider
    await provider.close()


def request(**fields: object) -> ProviderRequest:
    return ProviderRequest(model="gpt-test", messages=[ChatMessage(role="user", content="推荐一下补水项目")], **fields)


async def test_complete_sends_a_chat_completion_and_reads_text_and_usage(
    openai_server: FakeOpenAIServer, openai_provider: OpenAIProvider
) -> None:
    openai_server.script(Reply(text="可以了解水光针。", usage=(31, 9)))
    history = [
        ChatMessage(role="user", content="帮我约明天"),
        ChatMessage(role="assistant", tool_calls=[ToolCall(id="c1", name="book", arguments='{"time": "明天"}')]),
        ChatMessage(role="tool", tool_call_id="c1", content="已预约"),
    ]
    result = await openai_provider.complete(
        ProviderRequest(model="gpt-test", system="你是顾问", messages=history, temperature=0.3, max_tokens=50, tools=[BOOK])
    )

    assert (result.content, result.usage, result.finish_reason) == ("可以了解水光针。", Usage(input_tokens=31, output_tokens=9), "stop")
    sent = openai_server.requests[0]
    assert openai_server.headers[0]["authorization"] == "Bearer sk-test"
    assert sent["model"] == "gpt-test" and sent["temperature"] == 0.3 and sent["max_completion_tokens"] == 50
    assert sent["messages"][0] == {"role": "system", "content": "你是顾问"}
    assert sent["messages"][2]["tool_calls"][0]["function"] == {"name": "book", "arguments": '{"time": "明天"}'}
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": "已预约"}
    assert sent["tools"] == [{"type": "function", "function": BOOK.model_dump()}]


async def test_tool_calls_come_back_from_completions_and_streams(
    openai_server: FakeOpenAIServer, openai_provider: OpenAIProvider
) -> None:
    call = ("call_1", "book", '{"time": "明天下午3点"}')
    openai_server.script(Reply(tool_calls=[call]))
    expected = [ToolCall(id="call_1", name="book", arguments='{"time": "明天下午3点"}')]
    assert (await openai_provider.complete(request(tools=[BOOK]))).tool_calls == expected

    streamed = await collect(openai_provider.stream(request(tools=[BOOK])))
    assert streamed.tool_calls == expected and streamed.finish_reason == "tool_calls"


async def test_stream_yields_text_deltas_and_asks_for_usage(openai_server: FakeOpenAIServer, openai_provider: OpenAIProvider) -> None:
    openai_server.script(Reply(text="您好，欢迎咨询水光针项目", usage=(20, 12)))
    chunks = [chunk async for chunk in openai_provider.stream(request())]

    assert [chunk.delta for chunk in chunks if chunk.delta] == ["您好，欢", "迎咨询水", "光针项目"]
    assert chunks[-1].usage == Usage(input_tokens=20, output_tokens=12) and chunks[-1].finish_reason == "stop"
    assert openai_server.requests[0]["stream_options"] == {"include_usage": True}


async def test_json_schema_goes_as_response_format(openai_server: FakeOpenAIServer, openai_provider: OpenAIProvider) -> None:
    openai_server.script(Reply(text='{"tags": ["补水"]}'))
    await openai_provider.complete(request(json_schema=SCHEMA))
    response_format = openai_server.requests[0]["response_format"]
    assert response_format["type"] == "json_schema" and response_format["json_schema"]["schema"] == SCHEMA


async def test_compatible_server_without_schema_mode_gets_the_schema_in_the_prompt(openai_server: FakeOpenAIServer) -> None:
    spec = ProviderSpec(
        name="deepseek", type="openai_compatible", base_url=f"{openai_server.url}/v1", options={"structured_output": "json_object"}
    )
    provider = build_provider(spec)
    openai_server.script(Reply(text="{}"))
    await provider.complete(request(json_schema=SCHEMA, max_tokens=20))
    await provider.close()

    sent = openai_server.requests[0]
    assert sent["response_format"] == {"type": "json_object"} and sent["max_tokens"] == 20
    assert sent["messages"][0]["role"] == "system" and '"tags"' in sent["messages"][0]["content"]


@pytest.mark.parametrize(
    ("reply", "error", "retry_after"),
    [
        (Reply.error(429, "slow down", retry_after=3), ProviderRateLimited, 3.0),
        (Reply.error(500, "boom"), ProviderServerError, None),
        (Reply.error(503, "overloaded", retry_after=1), ProviderServerError, 1.0),
        (Reply.error(400, "bad request"), ProviderRejected, None),
        (Reply.error(401, "bad key"), ProviderRejected, None),
        (Reply(raw_body='{"choices": [ broken'), ProviderMalformedOutput, None),
    ],
)
async def test_http_errors_map_to_provider_errors(
    openai_server: FakeOpenAIServer, openai_provider: OpenAIProvider, reply: Reply, error: type, retry_after: float | None
) -> None:
    for call in (openai_provider.complete, lambda req: collect(openai_provider.stream(req))):
        openai_server.script(reply)
        with pytest.raises(error) as raised:
            await call(request())
        assert raised.value.retry_after == retry_after


async def test_a_response_without_choices_is_malformed(openai_server: FakeOpenAIServer, openai_provider: OpenAIProvider) -> None:
    openai_server.script(Reply(raw_body='{"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}'))
    with pytest.raises(ProviderMalformedOutput):
        await openai_provider.complete(request())


async def test_a_stream_cut_off_mid_way_is_a_connection_error(openai_server: FakeOpenAIServer, openai_provider: OpenAIProvider) -> None:
    openai_server.script(Reply(text="这句话没有说完就断了", cut_after=2))
    received = []
    with pytest.raises(ProviderConnectionError):
        async for chunk in openai_provider.stream(request()):
            received.append(chunk.delta)
    assert received == ["这句话没"]


async def test_responses_api_is_passed_through(openai_server: FakeOpenAIServer, openai_provider: OpenAIProvider) -> None:
    openai_server.script(Reply(text="你好", usage=(5, 2)))
    body = await openai_provider.responses("gpt-upstream", {"model": "alias", "input": "你好", "instructions": "简短"})
    assert openai_server.requests[0] == {"model": "gpt-upstream", "input": "你好", "instructions": "简短"}
    assert body["output"][0]["content"][0]["text"] == "你好" and body["usage"]["input_tokens"] == 5


def test_providers_without_key_or_base_url_are_not_configured() -> None:
    with pytest.raises(ProviderNotConfigured):
        build_provider(ProviderSpec(name="openai", type="openai"))
    with pytest.raises(ProviderNotConfigured):
        build_provider(ProviderSpec(name="local", type="openai_compatible"))
