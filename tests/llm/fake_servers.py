"""Small real HTTP servers that speak the OpenAI and Anthropic wire formats, for the real SDKs to call.

Each server runs uvicorn in a thread on a free port and answers from a
script of ``Reply`` objects (one per request; the last one repeats), so a
test can line up "429 with Retry-After, then a valid answer", a slow reply
for a timeout, malformed JSON, a stream cut off mid-way, and read back the
request bodies the SDK sent.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Reply:
    """One scripted answer."""

    text: str = ""
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, arguments JSON)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    usage: tuple[int, int] | None = (11, 7)  # (input, output) tokens; None = the server reports none
    delay_s: float = 0.0  # before the response starts (first-token and total timeouts)
    chunk_delay_s: float = 0.0  # between stream chunks
    raw_body: str | None = None  # sent as is: malformed output
    cut_after: int | None = None  # a stream drops the connection after this many SSE events
    chunk_chars: int = 4

    @classmethod
    def error(cls, status: int, message: str = "scripted error", retry_after: float | None = None) -> Reply:
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(status=status, text=message, headers=headers)

    def pieces(self) -> list[str]:
        return [self.text[i : i + self.chunk_chars] for i in range(0, len(self.text), self.chunk_chars)]


class _DroppedConnection(Exception):
    """Raised inside a streaming body: uvicorn then closes the connection without finishing the response."""


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._script: list[Reply] = [Reply(text="ok")]
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(self._app(), log_level="critical", timeout_graceful_shutdown=1, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def _app(self) -> Starlette:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies`` in order (the last one repeats); forget earlier requests."""
        self._script = list(replies)
        self.requests.clear()
        self.headers.clear()

    async def _next(self, request: Request) -> tuple[Reply, dict[str, Any]]:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        reply = self._script.pop(0) if len(self._script) > 1 else self._script[0]
        await asyncio.sleep(reply.delay_s)
        return reply, body

    async def _sse(self, events: list[str], reply: Reply) -> AsyncIterator[str]:
        for index, event in enumerate(events):
            if index:
                await asyncio.sleep(reply.chunk_delay_s)
            yield event

    def __enter__(self) -> FakeServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._socket.close()


def _stream_response(events: AsyncIterator[str], reply: Reply) -> StreamingResponse:
    """SSE, cut off after ``reply.cut_after`` events when asked."""

    async def body() -> AsyncIterator[str]:
        sent = 0
        async for event in events:
            if sent == reply.cut_after:
                raise _DroppedConnection
            sent += 1
            yield event

    return StreamingResponse(body(), media_type="text/event-stream")


class FakeOpenAIServer(FakeServer):
    """``POST /v1/chat/completions`` (JSON and SSE) and ``POST /v1/responses``."""

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/responses", self._responses, methods=["POST"]),
            ]
        )

    @staticmethod
    def _error(reply: Reply) -> Response:
        body = {"error": {"message": reply.text, "type": "scripted", "code": None}}
        return JSONResponse(body, status_code=reply.status, headers=reply.headers)

    @staticmethod
    def _usage(reply: Reply) -> dict[str, int] | None:
        if reply.usage is None:
            return None
        return {"prompt_tokens": reply.usage[0], "completion_tokens": reply.usage[1], "total_tokens": sum(reply.usage)}

    async def _chat(self, request: Request) -> Response:
        reply, body = await self._next(request)
        if reply.status >= 400:
            return self._error(reply)
        if reply.raw_body is not None and not body.get("stream"):
            return Response(reply.raw_body, media_type="application/json")
        finish = "tool_calls" if reply.tool_calls else "stop"
        if not body.get("stream"):
            calls = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in reply.tool_calls]
            message = {"role": "assistant", "content": reply.text or None, **({"tool_calls": calls} if calls else {})}
            return JSONResponse(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": self._usage(reply),
                }
            )

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, usage: Any = None, choices: bool = True) -> str:
            data = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
            data["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish_reason}] if choices else []
            if usage is not None:
                data["usage"] = usage
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        if reply.raw_body is not None:
            events = [chunk({"role": "assistant", "content": ""}), f"data: {reply.raw_body}\n\n"]
            return _stream_response(self._sse(events, reply), reply)
        texts = [chunk({"content": piece}) for piece in reply.pieces()]
        events = [chunk({"role": "assistant", "content": ""}), *texts]
        for index, (call_id, name, arguments) in enumerate(reply.tool_calls):
            start = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
            events.append(chunk({"tool_calls": [start]}))
            half = len(arguments) // 2
            for part in (arguments[:half], arguments[half:]):
                events.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]}))
        events.append(chunk({}, finish_reason=finish))
        if (body.get("stream_options") or {}).get("include_usage") and reply.usage is not None:
            events.append(chunk({}, usage=self._usage(reply), choices=False))
        events.append("data: [DONE]\n\n")
        return _stream_response(self._sse(events, reply), reply)

    async def _responses(self, request: Request) -> Response:
        reply, body = await self._next(request)
        if reply.status >= 400:
            return self._error(reply)
        usage = reply.usage or (0, 0)
        return JSONResponse(
            {
                "id": "resp_1",
                "object": "response",
                "created_at": 0,
                "status": "completed",
                "model": body["model"],
                "output": [
                    {
                        "type": "message",
                        "id": "msg_1",
                        "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
                    }
                ],
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": [],
                "usage": {
                    "input_tokens": usage[0],
                    "output_tokens": usage[1],
                    "total_tokens": sum(usage),
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens_details": {"reasoning_tokens": 0},
                },
            }
        )


class FakeAnthropicServer(FakeServer):
    """``POST /v1/messages`` (JSON and SSE events)."""

    def _app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    async def _messages(self, request: Request) -> Response:
        reply, body = await self._next(request)
        if reply.status >= 400:
            kind = "rate_limit_error" if reply.status == 429 else "api_error"
            error = {"type": "error", "error": {"type": kind, "message": reply.text}}
            return JSONResponse(error, status_code=reply.status, headers=reply.headers)
        if reply.raw_body is not None and not body.get("stream"):
            return Response(reply.raw_body, media_type="application/json")
        stop_reason = "tool_use" if reply.tool_calls else "end_turn"
        usage_in, usage_out = reply.usage or (0, 0)
        if not body.get("stream"):
            content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
            content += [{"type": "tool_use", "id": i, "name": n, "input": json.loads(a)} for i, n, a in reply.tool_calls]
            return JSONResponse(
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": content,
                    "stop_reason": stop_reason,
                    "stop_sequence": None,
                    "usage": {"input_tokens": usage_in, "output_tokens": usage_out},
                }
            )

        def event(kind: str, **data: Any) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data}, ensure_ascii=False)}\n\n"

        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": usage_in, "output_tokens": 1},
        }
        events = [event("message_start", message=message)]
        if reply.raw_body is not None:
            events.append(f"event: content_block_start\ndata: {reply.raw_body}\n\n")
            return _stream_response(self._sse(events, reply), reply)
        texts = [
            event("content_block_delta", index=0, delta={"type": "text_delta", "text": piece}) for piece in reply.pieces()
        ]
        events += [event("content_block_start", index=0, content_block={"type": "text", "text": ""}), *texts]
        events.append(event("content_block_stop", index=0))
        for offset, (call_id, name, arguments) in enumerate(reply.tool_calls, start=1):
            block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
            events.append(event("content_block_start", index=offset, content_block=block))
            half = len(arguments) // 2
            for part in (arguments[:half], arguments[half:]):
                delta = {"type": "input_json_delta", "partial_json": part}
                events.append(event("content_block_delta", index=offset, delta=delta))
            events.append(event("content_block_stop", index=offset))
        events.append(
            event(
                "message_delta",
                delta={"stop_reason": stop_reason, "stop_sequence": None},
                usage={"output_tokens": usage_out},
            )
        )
        events.append(event("message_stop"))
        return _stream_response(self._sse(events, reply), reply)


# One model behind the scripted upstream, no retries: what ``route_to`` points an app at in the API tests.
UPSTREAM_CATALOG = {
    "defaults": {"alias": "main", "retry": {"max_retries": 0, "base_delay_s": 0.01, "max_delay_s": 0.05}},
    "providers": [{"name": "upstream", "type": "openai_compatible", "api_key_env": "TEST_UPSTREAM_KEY",
                   "base_url_env": "TEST_UPSTREAM_URL"}],
    "models": [{"name": "qwen", "provider": "upstream", "model": "qwen-upstream", "context_window": 32000,
                "input_usd_per_mtok": 2.0, "output_usd_per_mtok": 10.0}],
    "aliases": [{"name": "main", "fallback": ["qwen"]}],
}


def route_to(upstream: FakeServer, catalog: dict[str, Any], directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Points an app built after this at ``upstream``: its router reads ``catalog`` (whose ``openai_compatible`` provider
    names ``TEST_UPSTREAM_KEY`` and ``TEST_UPSTREAM_URL``) and the keys from the environment."""
    path = directory / "models.yaml"
    path.write_text(yaml.safe_dump(catalog))
    monkeypatch.setenv("MAS_MODELS_CONFIG", str(path))
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-test")
    monkeypatch.setenv("TEST_UPSTREAM_URL", f"{upstream.url}/v1")
