"""A turn's context, assembled in one place: the thread, the assistant and its active prompt, the customer's recent
messages, the tenant's catalog of services for intent matching and its compliance rules for the reply's checks.

The recent messages use memory's window size (``MAS_WINDOW_SIZE``), and every message becomes text by one rule
(``store.transcript.message_text``), so what the agents read of a conversation is what memory keeps of it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

from agents.graph import TurnInput
from agents.intent import CatalogService
from agents.sales import AssistantProfile, CustomerProfile
from runs.compliance_rules import ComplianceRules
from runs.errors import ServiceError
from store.assistants import AssistantStore
from store.models import Message, Run
from store.products import ProductStore
from store.prompts import PromptStore
from store.threads import ThreadStore
from store.transcript import message_text

CATALOG_TTL_S = 30.0


def run_input_text(messages: list[dict[str, Any]]) -> str:
    """What the agents read of a run's input: its customer messages as text, one per line."""
    return "\n".join(text for message in messages if message["role"] == "user" and (text := message_text(message["content"])).strip())


def unanswered(recent: list[Message]) -> list[dict[str, Any]]:
    """The customer messages of runs interrupted since the thread's last reply (``recent``: newest first), oldest
    first: a run stores its input only with its reply, so a run's user messages with no reply after them were left
    unanswered by an ``interrupt``, and the run that interrupted answers them with its own."""
    left = []
    for message in recent:
        if message.role != "user" or message.run_id is None:
            break
        left.append({"role": "user", "content": message.content})
    return left[::-1]


class TurnContext:
    def __init__(self, threads: ThreadStore, assistants: AssistantStore, prompts: PromptStore, products: ProductStore,
                 rules: ComplianceRules, window_size: int) -> None:
        self._threads, self._assistants, self._prompts, self._products = threads, assistants, prompts, products
        self._rules = rules
        self._window_size = window_size
        self._catalogs: dict[str, tuple[float, list[CatalogService]]] = {}

    async def turn(self, run: Run) -> TurnInput:
        """The graph's input for ``run``; 404 when its thread or assistant no longer exists."""
        tenant = run.tenant_id
        thread, assistant, prompt, recent, catalog, brand = await asyncio.gather(
            self._threads.get(tenant, run.thread_id),
            self._assistants.get(tenant, run.assistant_id),
            self._prompts.active(tenant, run.assistant_id),
            self._threads.messages(tenant, run.thread_id, self._window_size),
            self._catalog(tenant),
            self._rules.active(tenant),  # cached: no query on most turns
        )
        if thread is None or assistant is None:
            missing = "thread" if thread is None else "assistant"
            raise ServiceError(404, f"{missing.upper()}_NOT_FOUND", f"the run's {missing} no longer exists")
        return TurnInput(
            run_id=run.run_id,
            tenant_id=tenant,
            thread_id=run.thread_id,
            text=run_input_text([*unanswered(recent or []), *run.input]),
            recent=[message_text(m.content) for m in reversed(recent or []) if m.role == "user"],
            assistant=AssistantProfile.model_validate(assistant, from_attributes=True),
            prompt=prompt.config if prompt else {"personality_prompt": assistant.personality},
            prompt_version=prompt.version if prompt else None,
            customer=CustomerProfile.model_validate(thread, from_attributes=True),
            catalog=catalog,
            model=run.requested_model,
            now=datetime.now(timezone.utc),
            brand=brand,
        )

    async def _catalog(self, tenant_id: str) -> list[CatalogService]:
        """The tenant's services for intent matching, re-read at most every CATALOG_TTL_S."""
        cached = self._catalogs.get(tenant_id)
        if cached is not None and time.monotonic() - cached[0] < CATALOG_TTL_S:
            return cached[1]
        services = [CatalogService(**row) for row in await self._products.services(tenant_id)]
        self._catalogs[tenant_id] = (time.monotonic(), services)
        return services
