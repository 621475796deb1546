"""App keys: created by an operator, stored as SHA-256 digests, found by their public prefix."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.store.models import AppKey, utcnow

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
