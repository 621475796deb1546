"""The error every service raises for a request it refuses: a status and a stable code for the client."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Rendered by the API as its error envelope (``api.errors``), with this status, code, message and details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers
