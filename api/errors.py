"""The one error envelope: ``{"error": {code, message, details}, "request_id"}`` for every non-2xx."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from llm.errors import LLMError
from runs.errors import ServiceError

logger = logging.getLogger("mas.api")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "TIMEOUT",
}

# What each error status means, as /openapi.json documents it (API.md, "Conventions").
_MEANINGS = {
    400: "Semantic error in the request (the code says which).",
    401: "Missing, malformed, expired or revoked access token (or app key).",
    403: "Scope not granted, or the tenant is unknown, disabled or not the caller's.",
    404: "Not found; another tenant's resources are not found either.",
    409: "Conflict with the current state: THREAD_BUSY, RUN_CANCELLED, RUN_FINISHED, a prompt or compliance rules version conflict.",
    413: "Request body too large.",
    414: "Query string too long.",
    415: "Unsupported request content type.",
    422: "Request validation failed; `details.fields` lists each offending field.",
    429: "Rate limited; retry after `Retry-After` seconds.",
    502: "Every LLM route failed, or the model's output was unusable.",
    503: "Overloaded, or a required dependency is down.",
    504: "Timed out.",
}


class ErrorObject(BaseModel):
    code: str = Field(description="Stable and machine-readable, e.g. THREAD_NOT_FOUND, VALIDATION_ERROR.")
    message: str = Field(description="For people; may change.")
    details: dict[str, Any] = Field(description="More about the error, per code; for 422, `fields`: [{loc, message, type}].")


class ErrorEnvelope(BaseModel):
    """The body of every non-2xx response."""

    error: ErrorObject
    request_id: str = Field(description="The request's X-Request-ID; quote it when reporting a problem.")


class ApiError(ServiceError):
    """Raised anywhere in request handling; rendered as the error envelope (as is any service's ``ServiceError``)."""


def not_found(resource: str, resource_id: str) -> ApiError:
    """404 for a missing resource, and equally for another tenant's: existence is never revealed."""
    return ApiError(404, f"{resource.upper()}_NOT_FOUND", f"{resource} '{resource_id}' not found")


def found(value: T | None, resource: str, resource_id: str) -> T:
    """``value``, or the 404 of a missing (or another tenant's) resource."""
    if value is None:
        raise not_found(resource, resource_id)
    return value


def request_id_of(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorEnvelope(error=ErrorObject(code=code, message=message, details=details or {}), request_id=request_id_of(request))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(request, exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(LLMError)
    async def _llm_error(request: Request, exc: LLMError) -> JSONResponse:
        headers = {"Retry-After": str(math.ceil(exc.retry_after))} if exc.retry_after is not None else None
        return error_response(request, exc.status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"loc": [str(part) for part in err.get("loc", ())], "message": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        return error_response(request, 422, "VALIDATION_ERROR", "request validation failed", {"fields": fields})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
        message = exc.detail if isinstance(exc.detail, str) else code.lower()
        details = getattr(exc, "details", None)  # set by exceptions that carry more than a message
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405 and (allowed := _allowed_methods(app, request.url.path)):
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return error_response(request, exc.status_code, code, message, details, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A 500 is always a bug: log it with the request id so it can be found.
        logger.exception("unhandled error (request_id=%s)", request_id_of(request))
        return error_response(request, 500, "INTERNAL_ERROR", "internal error; quote the request_id when reporting it")


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods /openapi.json documents for this path (Starlette's 405 names only the first matching route's)."""
    return sorted(
        method.upper()
        for template, operations in app.openapi()["paths"].items()
        if compile_path(template)[0].match(path)
        for method in operations
    )


def raises(*statuses: int) -> Callable[[F], F]:
    """Marks a request dependency with the error statuses it answers with, for ``document_errors``.

    A dependency marked with 401 authenticates the caller: its routes need the bearer token.
    """

    def mark(dependency: F) -> F:
        dependency.raises = statuses  # type: ignore[attr-defined]
        return dependency

    return mark


def document_errors(app: FastAPI, routers: Iterable[APIRouter], handler_errors: Mapping[str, Collection[int]]) -> None:
    """Declares on every operation of /openapi.json the error responses it can produce, each an ``ErrorEnvelope``.

    Derived from each route: its dependencies' ``raises`` marks (auth, tenancy), path parameters (404), a
    request body (400 unparsable, 413) and any parameter or body (422, where FastAPI declares its own).
    ``handler_errors`` adds what the handlers themselves raise, keyed ``"METHOD /path"``.
    """
    routes = {
        f"{method} {route.path_format}": route
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    unknown = set(handler_errors) - set(routes)
    if unknown:
        raise ValueError(f"errors documented for routes that do not exist: {sorted(unknown)}")
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {})
        envelope = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas = components.setdefault("schemas", {})
        schemas.update(envelope.pop("$defs", {}), ErrorEnvelope=envelope)
        for replaced in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, which this API never sends
            schemas.pop(replaced, None)
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
        for key, route in routes.items():
            method, path = key.split(" ", 1)
            operation = schema["paths"].get(path, {}).get(method.lower())
            if operation is None:  # not in the schema
                continue
            from_dependencies, statuses = _route_errors(route)
            statuses |= set(handler_errors.get(key, ()))
            responses = operation.setdefault("responses", {})
            declared = {str(status) for status in route.responses}  # the route's own word wins
            responses.update({str(status): _error_response(status) for status in statuses if str(status) not in declared})
            operation["responses"] = dict(sorted(responses.items()))
            if 401 in from_dependencies:
                operation["security"] = [{"bearer": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _route_errors(route: APIRoute) -> tuple[set[int], set[int]]:
    """(what its dependencies raise, every error status the route's shape implies)."""
    dependants = list(_dependants(route.dependant))
    from_dependencies = {status for d in dependants for status in getattr(d.call, "raises", ())}
    statuses = set(from_dependencies)
    if any(d.path_params for d in dependants):
        statuses.add(404)
    has_body = any(d.body_params for d in dependants) or "requestBody" in (route.openapi_extra or {})
    if has_body:
        statuses |= {400, 413}  # FastAPI answers 400 for a body it cannot decode
    if has_body or any(d.path_params or d.query_params or d.header_params or d.cookie_params for d in dependants):
        statuses.add(422)
    return from_dependencies, statuses


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _MEANINGS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }
    if status in (429, 503):
        response["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
    return response
