"""FastAPI routers, one per resource of API.md.

Every router uses ``CheckedRoute``: before validation, each request's JSON body is parsed by ``load_json`` and its
path and query parameters are checked, the same way for every route, so what no field may hold (NUL, a lone
surrogate, NaN, nesting too deep to handle) is a 422 wherever it is sent, never a database error or a 500.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from api.schemas.common import BODY_MAX_DEPTH, JsonPath, json_problem


class InvalidInput(HTTPException):
    """422 VALIDATION_ERROR for input refused before validation, with ``details.fields`` as every 422 has."""

    def __init__(self, loc: JsonPath, why: str) -> None:
        super().__init__(422, "request validation failed")
        self.loc, self.why = loc, why
        self.details = {"fields": [{"loc": [str(part) for part in loc], "message": why, "type": "value_error"}]}


def load_json(body: bytes | str) -> Any:
    """A request body parsed as JSON, refusing (422) what ``json_problem`` finds with nesting up to BODY_MAX_DEPTH,
    and nesting too deep for the parser itself. Malformed JSON raises ``json.JSONDecodeError``, as json.loads does."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise InvalidInput(("body",), f"nested deeper than {BODY_MAX_DEPTH} levels") from None
    problem = json_problem(value, BODY_MAX_DEPTH)
    if problem is not None:
        path, why = problem
        raise InvalidInput(("body", *path), why)
    return value


class CheckedRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = load_json(await self.body())
        return self._json


class CheckedRoute(APIRoute):
    """FastAPI parses the body with ``CheckedRequest.json``; path and query parameters may not hold NUL
    (percent-decoding never produces a lone surrogate: it replaces invalid UTF-8)."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            for where, params in (("path", request.path_params.items()), ("query", request.query_params.multi_items())):
                for name, value in params:
                    if "\x00" in value:
                        raise InvalidInput((where, name), "text may not hold NUL")
            return await handler(CheckedRequest(request.scope, request.receive))

        return checked
