"""App key → JWT exchange, token verification, scopes, and the tenant binding of tokens."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import httpx
import jwt
import pytest

from api.app import create_app
from api.scopes import BACKEND_ADMIN, PLATFORM_TENANT, TENANT_ADMIN, TENANT_CHAT
from runtime.settings import Settings
from tests.client import ApiClient, assert_error


async def _key(api: ApiClient, tenant: str = "tenant-a", scopes: tuple[str, ...] = (TENANT_CHAT, TENANT_ADMIN)) -> str:
    return (await api.services.app_keys.create("k", tenant, list(scopes))).key


async def test_token_carries_the_key_scopes_and_tenant(api: ApiClient) -> None:
    key = await _key(api)
    response = await api.post("/v1/auth/token", headers={"X-App-Key": key})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["tenant_id"] == "tenant-a"
    assert body["scopes"] == [TENANT_ADMIN, TENANT_CHAT]
    assert body["expires_in"] == api.services.settings.token_ttl_seconds
    assert abs(body["issued_at"] - time.time()) < 60

    verify = await api.get("/v1/auth/verify", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert verify.status_code == 200
    info = verify.json()["service_info"]
    assert verify.json()["status"] == "success"
    assert info["tenant_id"] == "tenant-a" and info["scopes"] == [TENANT_ADMIN, TENANT_CHAT]
    assert info["iss"] == "mas" and info["expires_at"] == body["issued_at"] + body["expires_in"]


async def test_token_can_narrow_but_never_widen_scopes(api: ApiClient) -> None:
    key = await _key(api, scopes=(TENANT_CHAT, TENANT_ADMIN))
    narrowed = await api.post("/v1/auth/token", headers={"X-App-Key": key}, json={"scopes": [TENANT_CHAT]})
    assert narrowed.status_code == 200 and narrowed.json()["scopes"] == [TENANT_CHAT]

    widened = await api.post("/v1/auth/token", headers={"X-App-Key": key}, json={"scopes": [TENANT_CHAT, BACKEND_ADMIN]})
    error = assert_error(widened, 403, "SCOPE_NOT_ALLOWED")
    assert error["details"]["not_allowed"] == [BACKEND_ADMIN]


@pytest.mark.parametrize("header", [None, "", "mas_nope", "mas_000000000000_wrongsecret", "not-a-key"])
async def test_bad_or_missing_app_key_is_401(api: ApiClient, header: str | None) -> None:
    headers = {} if header is None else {"X-App-Key": header}
    assert_error(await api.post("/v1/auth/token", headers=headers), 401, "INVALID_APP_KEY")


async def test_right_prefix_with_wrong_secret_is_401(api: ApiClient) -> None:
    key = await _key(api)
    forged = key[: key.rindex("_") + 1] + "A" * 43
    assert_error(await api.post("/v1/auth/token", headers={"X-App-Key": forged}), 401, "INVALID_APP_KEY")


async def test_revoked_key_can_no_longer_get_tokens(api: ApiClient) -> None:
    issued = await api.services.app_keys.create("k", "tenant-a", [TENANT_CHAT])
    assert (await api.post("/v1/auth/token", headers={"X-App-Key": issued.key})).status_code == 200
    assert await api.services.app_keys.revoke(issued.record.key_id)
    assert_error(await api.post("/v1/auth/token", headers={"X-App-Key": issued.key}), 401, "INVALID_APP_KEY")


async def test_auth_test_endpoint_needs_backend_admin(api: ApiClient, admin: ApiClient) -> None:
    assert (await admin.get("/v1/auth/test")).status_code == 200
    chat = await api.as_key("tenant-a", [TENANT_CHAT])
    error = assert_error(await chat.get("/v1/auth/test"), 403, "INSUFFICIENT_SCOPES")
    assert error["details"] == {"required_scopes": [BACKEND_ADMIN], "current_scopes": [TENANT_CHAT]}


def _claims(api: ApiClient, **overrides: object) -> dict[str, object]:
    settings = api.services.settings
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "k1", "iss": settings.jwt_issuer, "aud": settings.jwt_audience, "iat": now, "exp": now + 600,
        "tenant_id": PLATFORM_TENANT, "scopes": [BACKEND_ADMIN],
    }
    claims.update(overrides)
    return claims


def _unsigned(claims: dict[str, object]) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _forged_tokens(api: ApiClient) -> dict[str, tuple[str, str]]:
    secret = api.services.settings.effective_jwt_secret
    now = int(time.time())
    return {
        "alg none": (_unsigned(_claims(api)), "INVALID_TOKEN"),
        "wrong key": (jwt.encode(_claims(api), "another-secret-" + "y" * 32, algorithm="HS256"), "INVALID_TOKEN"),
        "expired": (jwt.encode(_claims(api, iat=now - 7200, exp=now - 3600), secret, algorithm="HS256"), "TOKEN_EXPIRED"),
        "wrong audience": (jwt.encode(_claims(api, aud="someone-else"), secret, algorithm="HS256"), "INVALID_TOKEN"),
        "wrong issuer": (jwt.encode(_claims(api, iss="evil"), secret, algorithm="HS256"), "INVALID_TOKEN"),
        "no scopes claim": (jwt.encode(_claims(api, scopes=None), secret, algorithm="HS256"), "INVALID_TOKEN"),
        "HS512 substitution": (jwt.encode(_claims(api), secret, algorithm="HS512"), "INVALID_TOKEN"),
        "malformed": ("not.a.jwt", "INVALID_TOKEN"),
    }


@pytest.mark.parametrize(
    "case", ["alg none", "wrong key", "expired", "wrong audience", "wrong issuer", "no scopes claim", "HS512 substitution", "malformed"]
)
async def test_forged_or_stale_tokens_are_401(api: ApiClient, case: str) -> None:
    token, code = _forged_tokens(api)[case]
    assert_error(await api.get("/v1/auth/verify", headers={"Authorization": f"Bearer {token}"}), 401, code)
    assert_error(await api.get("/v1/tenants/any/status", headers={"Authorization": f"Bearer {token}"}), 401, code)


async def test_a_correctly_signed_token_is_accepted_only_for_a_live_key(api: ApiClient) -> None:
    issued = await api.services.app_keys.create("k", PLATFORM_TENANT, [BACKEND_ADMIN])
    secret = api.services.settings.effective_jwt_secret
    token = jwt.encode(_claims(api, sub=issued.record.key_id), secret, algorithm="HS256")
    assert (await api.get("/v1/auth/test", headers={"Authorization": f"Bearer {token}"})).status_code == 200

    no_key = jwt.encode(_claims(api, sub="no-such-key"), secret, algorithm="HS256")
    assert_error(await api.get("/v1/auth/test", headers={"Authorization": f"Bearer {no_key}"}), 401, "KEY_REVOKED")
    other_tenant = jwt.encode(_claims(api, sub=issued.record.key_id, tenant_id="tenant-a"), secret, algorithm="HS256")
    assert_error(await api.get("/v1/auth/verify", headers={"Authorization": f"Bearer {other_tenant}"}), 401, "INVALID_TOKEN")
    wider = await api.services.app_keys.create("k2", "tenant-a", [TENANT_CHAT])
    widened = jwt.encode(_claims(api, sub=wider.record.key_id, tenant_id="tenant-a", scopes=[TENANT_CHAT, TENANT_ADMIN]),
                         secret, algorithm="HS256")
    assert_error(await api.get("/v1/auth/verify", headers={"Authorization": f"Bearer {widened}"}), 401, "INVALID_TOKEN")


async def test_revoking_a_key_revokes_its_tokens_on_every_replica(api: ApiClient, settings: Settings) -> None:
    """Reads and writes alike, within MAS_KEY_RECHECK_SECONDS on a replica that had already accepted the token."""
    settings = settings.model_copy(update={"key_recheck_seconds": 0.2})
    first, second = create_app(settings), create_app(settings)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://replica") for app in (first, second)]
        issued = await first.state.services.app_keys.create("k", PLATFORM_TENANT, [BACKEND_ADMIN])
        token = (await clients[0].post("/v1/auth/token", headers={"X-App-Key": issued.key})).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        sync = {"tenant_id": "t-revoke", "tenant_name": "n"}
        for client in clients:
            assert (await client.get("/v1/auth/verify", headers=auth)).status_code == 200
            assert (await client.post("/v1/tenants/sync", headers=auth, json=sync)).status_code in (200, 201)

        assert await first.state.services.app_keys.revoke(issued.record.key_id)
        await asyncio.sleep(0.25)
        for client in clients:
            assert_error(await client.get("/v1/auth/verify", headers=auth), 401, "KEY_REVOKED")
            assert_error(await client.get("/v1/tenants/t-revoke/status", headers=auth), 401, "KEY_REVOKED")
            assert_error(await client.post("/v1/tenants/sync", headers=auth, json=sync), 401, "KEY_REVOKED")
            await client.aclose()


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "token-without-scheme"])
async def test_missing_bearer_is_401_with_www_authenticate(api: ApiClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await api.get("/v1/auth/verify", headers=headers)
    assert_error(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_tokens_from_one_replica_verify_on_another(api: ApiClient, settings: Settings) -> None:
    """Replicas share the secret: a second app over the same settings accepts the first one's token."""
    key = await _key(api)
    token = (await api.post("/v1/auth/token", headers={"X-App-Key": key})).json()["access_token"]
    other = create_app(settings)
    async with other.router.lifespan_context(other):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://replica-2") as http:
            response = await http.get("/v1/auth/verify", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


async def test_generated_secret_is_created_once_and_shared(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).effective_jwt_secret
    second = Settings(data_dir=tmp_path).effective_jwt_secret
    assert first == second and len(first) >= 32
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0


async def test_keys_of_a_disabled_tenant_get_no_token(admin: ApiClient) -> None:
    issued = await admin.services.app_keys.create("k", "t-closing", [TENANT_CHAT])
    assert (await admin.post("/v1/auth/token", headers={"X-App-Key": issued.key})).status_code == 200  # not synced yet
    await admin.expect(201, "POST", "/v1/tenants/sync", json={"tenant_id": "t-closing", "tenant_name": "n"})
    await admin.expect(200, "DELETE", "/v1/tenants/t-closing")
    assert_error(await admin.post("/v1/auth/token", headers={"X-App-Key": issued.key}), 403, "TENANT_DISABLED")
