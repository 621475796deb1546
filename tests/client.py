"""A small test client over httpx: mints app keys in the store and exchanges them over HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from api.scopes import TENANT_ADMIN, TENANT_CHAT
from runtime.services import Services


@dataclass
class ApiClient:
    http: httpx.AsyncClient
    services: Services
    headers: dict[str, str] = field(default_factory=dict)

    async def as_key(self, tenant_id: str, scopes: list[str]) -> "ApiClient":
        issued = await self.services.app_keys.create("test", tenant_id, scopes)
        response = await self.http.post("/v1/auth/token", headers={"X-App-Key": issued.key})
        assert response.status_code == 200, response.text
        return replace(self, headers={"Authorization": f"Bearer {response.json()['access_token']}"})

    async def with_tenant(self, tenant_id: str, scopes: tuple[str, ...] = (TENANT_ADMIN, TENANT_CHAT)) -> "ApiClient":
        """Sync the tenant (as this platform client) and return a client bound to it."""
        response = await self.post("/v1/tenants/sync", json={"tenant_id": tenant_id, "tenant_name": f"{tenant_id} 医美"})
        assert response.status_code in (200, 201), response.text
        return await self.as_key(tenant_id, list(scopes))

    async def expect(self, status: int, method: str, url: str, **kwargs: Any) -> Any:
        """Send, assert the status (showing the body if it differs), return the JSON body."""
        response = await self.request(method, url, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Any:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.request("DELETE", url, **kwargs)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the one error envelope with this status and code; returns its error object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}, body
    assert body["error"]["code"] == code, body
    assert body["request_id"] and response.headers.get("x-request-id") in (None, body["request_id"])
    return body["error"]
