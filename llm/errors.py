"""Errors: the router raises only ``LLMError``; providers raise ``ProviderError``, which the router consumes.

``LLMError`` carries what the API puts in its error envelope (status, code,
message, details, Retry-After) and survives pickling, because Ray re-raises
it in the calling process.
"""

from __future__ import annotations

from typing import Any


class LLMError(Exception):
    status: int = 500
    code: str = "LLM_ERROR"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.message, self.details, self.retry_after)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}: {self.message})"


def _rebuild(cls: type[LLMError], message: str, details: dict[str, Any], retry_after: float | None) -> LLMError:
    return cls(message, details=details, retry_after=retry_after)


class UnknownModel(LLMError):
    status, code = 404, "UNKNOWN_MODEL"


class InvalidLLMRequest(LLMError):
    status, code = 400, "INVALID_LLM_REQUEST"


class ContextWindowExceeded(LLMError):
    status, code = 400, "CONTEXT_WINDOW_EXCEEDED"


class TenantRateLimited(LLMError):
    status, code = 429, "TENANT_RATE_LIMITED"


class AllRoutesFailed(LLMError):
    status, code = 502, "ALL_ROUTES_FAILED"


class StructuredOutputInvalid(LLMError):
    status, code = 502, "STRUCTURED_OUTPUT_INVALID"


class LLMTimeout(LLMError):
    status, code = 504, "LLM_TIMEOUT"


class NoOpenAIRoute(LLMError):
    status, code = 400, "NO_OPENAI_ROUTE"


class ProviderError(Exception):
    """A failed call to one model. ``retryable`` errors are retried on the same model; the others fall back at once."""

    retryable: bool = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ProviderRateLimited(ProviderError):
    retryable = True


class ProviderServerError(ProviderError):
    retryable = True


class ProviderTimeout(ProviderError):
    retryable = True


class ProviderConnectionError(ProviderError):
    retryable = True


class ProviderMalformedOutput(ProviderError):
    """The provider answered, but not in its wire format (bad JSON, no choices)."""


class ProviderRejected(ProviderError):
    """A 4xx other than 429 (bad request, bad key, no access, unknown model): retrying the same model cannot help."""


class ProviderNotConfigured(Exception):
    """Raised while building a provider whose credentials, base URL or injected client are missing."""
