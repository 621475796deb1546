"""Test data written straight into the relational store (messages are otherwise only written by a completed run)."""

from __future__ import annotations

from typing import Any

from runtime.services import Services
from store.db import make_sessionmaker
from store.models import Message


async def seed_messages(services: Services, tenant_id: str, thread_id: str, messages: list[dict[str, Any]]) -> list[Message]:
    """Append ``messages`` (role, content) to the thread, in order."""
    rows = [Message(tenant_id=tenant_id, thread_id=thread_id, **message) for message in messages]
    async with make_sessionmaker(services.engine).begin() as session:
        session.add_all(rows)
    return rows
