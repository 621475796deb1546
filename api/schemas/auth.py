from __future__ import annotations

from pydantic import BaseModel

from api.schemas.common import StrictModel


class TokenRequest(StrictModel):
    scopes: list[str] | None = None


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    issued_at: int
    scopes: list[str]
    tenant_id: str


class ServiceInfo(BaseModel):
    sub: str
    iss: str
    scopes: list[str]
    tenant_id: str
    expires_at: int


class VerifyResponse(BaseModel):
    status: str = "success"
    service_info: ServiceInfo
