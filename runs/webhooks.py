"""Signed webhooks: how a finished async run is announced to the URL its client gave.

Each delivery is one ``POST`` of a JSON body with the headers

- ``X-MAS-Event``: ``run.completed`` or ``run.failed``;
- ``X-MAS-Delivery``: the delivery id, the same on every retry of one event (deduplicate on it);
- ``X-MAS-Signature``: ``sha256=`` + the hex HMAC-SHA256 of the exact body bytes, keyed with
  ``MAS_WEBHOOK_SECRET``.

A receiver verifies the signature before it trusts the body, over the raw bytes it received (not a
re-serialisation of the parsed JSON) and with a constant-time compare::

    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers["X-MAS-Signature"]):
        reject with 401

Any 2xx acknowledges the delivery. Anything else (another status, a redirect, no answer within the
timeout, a refused connection) is retried with exponential backoff; deliveries are at least once.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import uuid

import httpx

SIGNATURE_HEADER = "X-MAS-Signature"
EVENT_HEADER = "X-MAS-Event"
DELIVERY_HEADER = "X-MAS-Delivery"
MAX_DELAY_SECONDS = 300.0


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    secret: str,
    *,
    event: str = "run.completed",
    delivery_id: str | None = None,
    timeout: float = 10.0,
) -> tuple[bool, str | None]:
    """One delivery attempt: (True, None) on a 2xx, else (False, why). Never raises for the receiver's faults."""
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, secret),
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id or str(uuid.uuid4()),
    }
    try:
        # Streamed and closed unread: the receiver's answer body is of no use, however large it is.
        async with client.stream("POST", url, content=body, headers=headers, timeout=timeout) as response:
            if response.is_success:
                return True, None
            return False, f"HTTP {response.status_code}"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return False, f"{type(exc).__name__}: {exc}".removesuffix(": ")


def next_delay(attempt: int, base: float, cap: float = MAX_DELAY_SECONDS) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, …): doubling from ``base``, capped, jittered.

    The jitter (between half and all of the delay) keeps receivers that come back from an outage from
    being hit by every pending retry at the same instant.
    """
    ceiling = min(cap, base * 2 ** min(attempt - 1, 32))
    return ceiling / 2 + random.uniform(0, ceiling / 2)
