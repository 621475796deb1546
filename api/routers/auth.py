"""Token exchange (app key → JWT), verification, and a scope-guarded probe."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header

from api.auth import Principal, authenticate, issue_token, refuse_disabled, require_scope
from api.deps import ServicesDep
from api.errors import ApiError
from api.routers import CheckedRoute
from api.schemas.auth import ServiceInfo, TokenRequest, TokenResponse, VerifyResponse
from api.scopes import BACKEND_ADMIN, PLATFORM_TENANT

router = APIRouter(prefix="/v1/auth", tags=["auth"], route_class=CheckedRoute)


@router.post("/token", response_model=TokenResponse)
async def token(
    services: ServicesDep,
    x_app_key: Annotated[str | None, Header()] = None,
    body: Annotated[TokenRequest | None, Body()] = None,
) -> TokenResponse:
    if not x_app_key:
        raise ApiError(401, "INVALID_APP_KEY", "missing X-App-Key header")
    key = await services.app_keys.verify(x_app_key)
    if key is None:
        raise ApiError(401, "INVALID_APP_KEY", "unknown or revoked app key")
    if key.tenant_id != PLATFORM_TENANT:
        # A key may be issued before its tenant is synced; only a disabled tenant stops it here.
        tenant = await services.tenants.get(key.tenant_id)
        if tenant is not None:
            refuse_disabled(tenant)
    scopes = sorted(set(body.scopes)) if body and body.scopes is not None else list(key.scopes)
    not_allowed = sorted(set(scopes) - set(key.scopes))
    if not_allowed:
        raise ApiError(
            403, "SCOPE_NOT_ALLOWED", "requested scopes exceed the app key's", {"not_allowed": not_allowed, "allowed": key.scopes}
        )
    issued = issue_token(services.settings, key.key_id, key.tenant_id, scopes)
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_at - issued.issued_at,
        issued_at=issued.issued_at,
        scopes=scopes,
        tenant_id=key.tenant_id,
    )


@router.get("/verify", response_model=VerifyResponse)
async def verify(services: ServicesDep, principal: Annotated[Principal, Depends(authenticate)]) -> VerifyResponse:
    return VerifyResponse(
        service_info=ServiceInfo(
            sub=principal.key_id,
            iss=services.settings.jwt_issuer,
            scopes=sorted(principal.scopes),
            tenant_id=principal.tenant_id,
            expires_at=principal.expires_at,
        )
    )


@router.get("/test")
async def test(principal: Annotated[Principal, Depends(require_scope(BACKEND_ADMIN))]) -> dict[str, object]:
    return {"status": "success", "message": "backend:admin access confirmed", "tenant_id": principal.tenant_id}
