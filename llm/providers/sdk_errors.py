"""One mapping from the OpenAI and Anthropic SDK exceptions (the two share their class names) to provider errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import httpx
import pydantic

from llm.errors import ProviderConnectionError, ProviderMalformedOutput, ProviderServerError, ProviderTimeout
from llm.providers.base import error_for_status, parse_retry_after

try:  # openai 3.x / recent anthropic use httpx2; older releases (openai 2.x) use httpx
    import httpx2

    _HTTP_LIBRARIES: tuple[ModuleType, ...] = (httpx, httpx2)
except ModuleNotFoundError:  # pragma: no cover - depends on the installed SDK versions
    _HTTP_LIBRARIES = (httpx,)
_HTTP_TIMEOUTS = tuple(library.TimeoutException for library in _HTTP_LIBRARIES)
_HTTP_TRANSPORT_ERRORS = tuple(library.TransportError for library in _HTTP_LIBRARIES)


@contextmanager
def provider_errors(sdk: ModuleType) -> Iterator[None]:
    """Re-raise what ``sdk`` (the ``openai`` or ``anthropic`` module) and its HTTP stack raise as ``ProviderError``s."""
    try:
        yield
    except (sdk.APITimeoutError, *_HTTP_TIMEOUTS) as exc:
        raise ProviderTimeout(f"timed out: {exc}") from exc
    except (sdk.APIConnectionError, *_HTTP_TRANSPORT_ERRORS) as exc:
        raise ProviderConnectionError(f"connection failed: {exc}") from exc
    except sdk.APIStatusError as exc:
        retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
        raise error_for_status(exc.status_code, f"HTTP {exc.status_code}: {exc.message}", retry_after) from exc
    except (sdk.APIResponseValidationError, json.JSONDecodeError, pydantic.ValidationError) as exc:
        raise ProviderMalformedOutput(f"malformed response: {exc}") from exc
    except sdk.APIError as exc:  # an error event inside a stream
        raise ProviderServerError(f"stream error: {exc.message}") from exc
