"""Pure ASGI middleware (no BaseHTTPMiddleware, so streaming responses pass through untouched)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
MAX_QUERY_BYTES = 8 * 1024  # the longest query an endpoint needs (a 500-character CJK search) is about 4.5 KB encoded


class RequestIdMiddleware:
    """Accepts a sane ``X-Request-ID`` (else generates one), exposes it in ``scope['state']`` and echoes it.

    Behind the Ray Serve proxy, which already assigns and echoes the header,
    ``echo=False`` adopts the proxy's id without adding a second header.
    """

    def __init__(self, app: ASGIApp, echo: bool = True) -> None:
        self.app = app
        self.echo = echo

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = _header(scope, b"x-request-id")
        request_id = supplied if supplied and _SAFE_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        if not self.echo:
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


class PayloadTooLarge(HTTPException):
    """413; FastAPI re-raises HTTPExceptions from body reading, so the error handlers render it."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body exceeds {max_bytes} bytes")
        self.details = {"max_bytes": max_bytes}


class BodySizeLimitMiddleware:
    """413 in the error envelope for bodies over the limit, with or without Content-Length.

    A declared Content-Length over the limit is refused at once, before any of the body is awaited. Otherwise
    the body is counted as it is read, so a false or missing Content-Length changes nothing and no more than
    the limit (plus one chunk) is buffered.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            refusal = PayloadTooLarge(self.max_bytes)
            response = error_response(Request(scope), 413, "PAYLOAD_TOO_LARGE", refusal.detail, refusal.details)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


class QueryLengthLimitMiddleware:
    """414 in the error envelope for a query string (as sent, percent-encoded) longer than ``max_bytes``.

    Far longer request lines never reach the app: the HTTP server in front (uvicorn in Ray Serve's proxy)
    refuses them itself (README, "Ray Serve").
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_QUERY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope.get("query_string", b"")) > self.max_bytes:
            message = f"the query string exceeds {self.max_bytes} bytes"
            await error_response(Request(scope), 414, "URI_TOO_LONG", message, {"max_bytes": self.max_bytes})(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None
