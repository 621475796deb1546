"""Webhook signing, one delivery attempt against a test-double transport, and the retry backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from runs.webhooks import MAX_DELAY_SECONDS, deliver, next_delay, sign
from runtime.settings import Settings

SECRET = "whsec-test"
BODY = json.dumps({"run_id": "r1", "thread_id": "th1", "status": "completed", "response": "您好"}, ensure_ascii=False).encode()


def receiver_verifies(body: bytes, signature: str, secret: str = SECRET) -> bool:
    """What the module docstring tells receivers to do."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def client_answering(handler: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]) -> httpx.AsyncClient:
    """An httpx client whose transport is a recording test double instead of the network."""

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(record))


def test_the_signature_is_the_hmac_sha256_of_the_exact_body() -> None:
    known = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"  # the published HMAC-SHA256 example
    assert sign(b"The quick brown fox jumps over the lazy dog", "key") == f"sha256={known}"
    assert receiver_verifies(BODY, sign(BODY, SECRET))
    assert not receiver_verifies(BODY.replace(b"completed", b"failed"), sign(BODY, SECRET))
    assert not receiver_verifies(BODY, sign(BODY, "another-secret"))


async def test_a_delivery_posts_the_signed_body_with_event_and_delivery_headers() -> None:
    seen: list[httpx.Request] = []
    async with client_answering(lambda _: httpx.Response(204), seen) as client:
        result = await deliver(client, "https://brand.example/hooks/mas", BODY, SECRET, event="run.failed", delivery_id="d-1")
    assert result == (True, None)
    (request,) = seen
    assert (request.method, str(request.url), request.content) == ("POST", "https://brand.example/hooks/mas", BODY)
    assert request.headers["content-type"] == "application/json"
    assert receiver_verifies(request.content, request.headers["x-mas-signature"])
    assert (request.headers["x-mas-event"], request.headers["x-mas-delivery"]) == ("run.failed", "d-1")


async def test_without_a_delivery_id_each_delivery_gets_a_fresh_uuid() -> None:
    seen: list[httpx.Request] = []
    async with client_answering(lambda _: httpx.Response(200), seen) as client:
        for _ in range(2):
            await deliver(client, "https://brand.example/hook", BODY, SECRET)
    ids = [request.headers["x-mas-delivery"] for request in seen]
    assert len(set(ids)) == 2 and all(uuid.UUID(value) for value in ids)
    assert seen[0].headers["x-mas-event"] == "run.completed"


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(500, text="boom"), "HTTP 500"),
        (httpx.Response(410), "HTTP 410"),
        (httpx.Response(302, headers={"location": "http://169.254.169.254/"}), "HTTP 302"),  # redirects are not followed
    ],
)
async def test_a_non_2xx_answer_is_a_failed_attempt(response: httpx.Response, error: str) -> None:
    seen: list[httpx.Request] = []
    async with client_answering(lambda _: response, seen) as client:
        assert await deliver(client, "https://brand.example/hook", BODY, SECRET) == (False, error)
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("failure", "reason"),
    [(httpx.ConnectError("connection refused"), "ConnectError: connection refused"), (httpx.ReadTimeout("timed out"), "ReadTimeout")],
)
async def test_an_unreachable_or_silent_receiver_is_a_failed_attempt_not_an_exception(failure: Exception, reason: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    async with client_answering(fail, []) as client:
        delivered, error = await deliver(client, "https://brand.example/hook", BODY, SECRET)
    assert not delivered and error.startswith(reason)


async def test_a_malformed_url_is_a_failed_attempt() -> None:
    async with httpx.AsyncClient() as client:
        delivered, error = await deliver(client, "not a url", BODY, SECRET)
    assert not delivered and error


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (6, 64.0)]:
        delays = [next_delay(attempt, 2.0) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # jittered: retries of many runs do not arrive together
    assert all(MAX_DELAY_SECONDS / 2 <= next_delay(attempt, 2.0) <= MAX_DELAY_SECONDS for attempt in (20, 500))


def test_without_a_configured_secret_every_replica_signs_with_one_generated_into_the_data_dir(tmp_path: Path) -> None:
    replicas = [Settings(data_dir=tmp_path) for _ in range(2)]
    secrets = {replica.effective_webhook_secret for replica in replicas}
    assert len(secrets) == 1 and len(secrets.pop()) >= 32
    assert replicas[0].effective_webhook_secret != replicas[0].effective_jwt_secret  # two keys, two files
    assert (tmp_path / "webhook_secret").stat().st_mode & 0o777 == 0o600
    assert Settings(data_dir=tmp_path, webhook_secret="configured").effective_webhook_secret == "configured"
