"""JWT access tokens and the request dependencies that enforce scopes and tenancy.

No ``from __future__ import annotations`` here: FastAPI must see the
``Depends(...)`` objects built inside the dependency factories, not strings.
"""

import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any, Callable

import jwt
from fastapi import Depends, Header, Request

from api.deps import ServicesDep
from api.errors import ApiError, raises
from api.scopes import BACKEND_ADMIN, PLATFORM_TENANT, TENANT_ADMIN, TENANT_CHAT
from runtime.settings import Settings
from store.models import Tenant

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the app key behind the token, its tenant binding and granted scopes."""

    key_id: str
    tenant_id: str  # a tenant id, or "*" for a platform key
    scopes: frozenset[str]
    expires_at: int

    def has(self, scope: str) -> bool:
        return scope in self.scopes or BACKEND_ADMIN in self.scopes


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    issued_at: int
    expires_at: int


def issue_token(settings: Settings, key_id: str, tenant_id: str, scopes: list[str]) -> IssuedToken:
    now = int(time.time())
    claims = {
        "sub": key_id,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + settings.token_ttl_seconds,
        "jti": secrets.token_hex(8),
        "tenant_id": tenant_id,
        "scopes": scopes,
    }
    token = jwt.encode(claims, settings.effective_jwt_secret, algorithm=ALGORITHM)
    return IssuedToken(access_token=token, issued_at=now, expires_at=claims["exp"])


def decode_token(settings: Settings, token: str) -> Principal:
    try:
        # Pinning the algorithm list refuses "alg: none" and any algorithm substitution.
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.effective_jwt_secret,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise ApiError(401, "TOKEN_EXPIRED", "access token has expired") from exc
    except jwt.PyJWTError as exc:
        raise ApiError(401, "INVALID_TOKEN", f"access token rejected: {exc}") from exc
    scopes, tenant_id = claims.get("scopes"), claims.get("tenant_id")
    if not isinstance(scopes, list) or not isinstance(tenant_id, str) or not tenant_id:
        raise ApiError(401, "INVALID_TOKEN", "access token lacks scopes or tenant binding")
    return Principal(key_id=claims["sub"], tenant_id=tenant_id, scopes=frozenset(map(str, scopes)), expires_at=claims["exp"])


@raises(401)
async def authenticate(request: Request, services: ServicesDep) -> Principal:
    """The caller of a signed, unexpired token whose app key still exists, is not revoked and has its tenant."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401, "UNAUTHENTICATED", "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    principal = decode_token(services.settings, token.strip())
    key = await services.active_keys.get(principal.key_id)
    if key is None:
        raise ApiError(401, "KEY_REVOKED", "the app key behind this token is revoked or unknown")
    if key.tenant_id != principal.tenant_id or not principal.scopes <= set(key.scopes):
        raise ApiError(401, "INVALID_TOKEN", "access token does not match its app key")
    return principal


def require_scope(scope: str) -> Callable[..., Principal]:
    @raises(403)
    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.has(scope):
            raise ApiError(
                403,
                "INSUFFICIENT_SCOPES",
                f"this endpoint needs scope '{scope}'",
                {"required_scopes": [scope], "current_scopes": sorted(principal.scopes)},
            )
        return principal

    return dependency


@dataclass(frozen=True)
class TenantContext:
    """The tenant a tenant-scoped request acts for, already checked to exist and be active."""

    principal: Principal
    tenant: Tenant
    request_id: str | None = None  # X-Request-ID (api.middleware), carried into what the request stores: runs

    @property
    def tenant_id(self) -> str:
        return self.tenant.tenant_id

    def refuse_other_tenant(self, named_tenant_id: str | None) -> None:
        """403 when a body or path names a tenant other than the caller's."""
        if named_tenant_id is not None and named_tenant_id != self.tenant_id:
            raise ApiError(403, "TENANT_MISMATCH", "the request names a tenant other than the caller's")


def refuse_disabled(tenant: Tenant) -> None:
    """403 TENANT_DISABLED for a BANNED or CLOSED tenant."""
    if tenant.status != "ACTIVE":
        raise ApiError(403, "TENANT_DISABLED", f"tenant '{tenant.tenant_id}' is {tenant.status}")


def resolve_tenant_id(principal: Principal, header_tenant: str | None) -> str:
    if principal.tenant_id == PLATFORM_TENANT:
        if not header_tenant:
            raise ApiError(400, "TENANT_REQUIRED", "a platform token must name the tenant in X-Tenant-ID")
        return header_tenant
    if header_tenant and header_tenant != principal.tenant_id:
        raise ApiError(403, "TENANT_MISMATCH", "X-Tenant-ID contradicts the token's tenant")
    return principal.tenant_id


def tenant_scope(scope: str) -> Callable[..., Any]:
    """Dependency for tenant-scoped endpoints: scope check, tenant resolution, tenant state."""

    @raises(400, 403)
    async def dependency(
        principal: Annotated[Principal, Depends(require_scope(scope))],
        services: ServicesDep,
        request: Request,
        x_tenant_id: Annotated[str | None, Header()] = None,
    ) -> TenantContext:
        tenant_id = resolve_tenant_id(principal, x_tenant_id)
        tenant = await services.tenants.get(tenant_id)
        if tenant is None:
            raise ApiError(403, "TENANT_NOT_FOUND", f"tenant '{tenant_id}' is not registered")
        refuse_disabled(tenant)
        return TenantContext(principal=principal, tenant=tenant, request_id=getattr(request.state, "request_id", None))

    return dependency


TenantAdmin = Annotated[TenantContext, Depends(tenant_scope(TENANT_ADMIN))]
TenantChat = Annotated[TenantContext, Depends(tenant_scope(TENANT_CHAT))]
