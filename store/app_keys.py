"""App keys: created by an operator, stored as SHA-256 digests, found by their public prefix."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import AppKey, utcnow

KEY_PREFIX = "mas"


@dataclass(frozen=True)
class IssuedKey:
    key: str  # shown once; only its digest is stored
    record: AppKey


def _digest(key: str) -> str:
    # Keys carry 256 bits of randomness, so a fast digest is enough (no password stretching needed).
    return hashlib.sha256(key.encode()).hexdigest()


def _split(key: str) -> str | None:
    parts = key.split("_", 2)  # the secret part may itself contain "_"
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


class AppKeyStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, name: str, tenant_id: str, scopes: list[str]) -> IssuedKey:
        prefix = secrets.token_hex(6)
        key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        record = AppKey(name=name, prefix=prefix, key_hash=_digest(key), tenant_id=tenant_id, scopes=sorted(set(scopes)))
        async with self._sessions.begin() as session:
            session.add(record)
        return IssuedKey(key=key, record=record)

    async def verify(self, key: str) -> AppKey | None:
        """The active key record for ``key``, or None (unknown, malformed, revoked)."""
        prefix = _split(key)
        if prefix is None:
            return None
        async with self._sessions() as session:
            record = await session.scalar(select(AppKey).where(AppKey.prefix == prefix))
        if record is None or record.revoked_at is not None:
            return None
        return record if hmac.compare_digest(record.key_hash, _digest(key)) else None

    async def active(self, key_id: str) -> AppKey | None:
        """The key ``key_id`` unless it is unknown or revoked."""
        async with self._sessions() as session:
            record = await session.get(AppKey, key_id)
        return record if record is not None and record.revoked_at is None else None

    async def list(self) -> list[AppKey]:
        async with self._sessions() as session:
            return list(await session.scalars(select(AppKey).order_by(AppKey.created_at)))

    async def revoke(self, key_id: str) -> bool:
        async with self._sessions.begin() as session:
            record = await session.get(AppKey, key_id)
            if record is None or record.revoked_at is not None:
                return False
            record.revoked_at = utcnow()
            return True


class ActiveKeys:
    """Which app keys are active, as a replica sees them: each key re-read at most every ``recheck_s``.

    Tokens are checked against their key on every request, so ``mas keys revoke`` reaches every replica within
    ``recheck_s`` instead of the token's lifetime, at the cost of one primary-key read per key per interval.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, store: AppKeyStore, recheck_s: float) -> None:
        self._store = store
        self._recheck_s = recheck_s
        self._seen: dict[str, tuple[float, AppKey | None]] = {}

    async def get(self, key_id: str) -> AppKey | None:
        now = time.monotonic()
        cached = self._seen.get(key_id)
        if cached is not None and now - cached[0] < self._recheck_s:
            return cached[1]
        record = await self._store.active(key_id)
        if len(self._seen) >= self.MAX_ENTRIES:
            self._seen.clear()
        self._seen[key_id] = (now, record)
        return record
