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


class ThreadBusy(ServiceError):
    """409: the thread has a run in flight (counted as a ``busy`` run by the executor)."""

    def __init__(self, tenant_id: str, thread_id: str, mode: str) -> None:
        super().__init__(409, "THREAD_BUSY", f"thread '{thread_id}' has a run in progress; retry when it has finished",
                         headers={"Retry-After": "1"})
        self.tenant_id, self.mode = tenant_id, mode
