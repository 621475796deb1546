"""Personal data: erasure receipts and a customer's export."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import StrictModel
from api.schemas.memory import MemoryOut
from api.schemas.runs import RunRecord
from api.schemas.threads import MessageOut, ThreadOut


class ErasureByPhone(StrictModel):
    phone: str = Field(pattern=r"^\+?[0-9][0-9\- ]{4,30}$", description="However spaced: digits are compared, +86 optional.")


class ErasureByExternalId(StrictModel):
    external_user_id: str = Field(min_length=1, max_length=128, description="The customer's id in your systems.")


# Exactly one way to name the customer: every thread of the tenant with it is erased.
CustomerErasure = ErasureByPhone | ErasureByExternalId


class ErasureOut(BaseModel):
    erasure_id: str
    subject: Literal["thread", "phone", "external_user_id"]
    state: Literal["pending", "done"] = Field(description="done: every store has forgotten every thread. pending: it is "
                                                          "being erased, or will be resumed (see last_error).")
    thread_ids: list[str]
    receipt: dict[str, int] = Field(description="What each store removed: messages, runs, run events, batch items, the "
                                                "window cache, memories, vectors, threads (by backend).")
    attempts: int
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class ThreadExport(BaseModel):
    """Everything held about the customer of a thread (memories' vectors are derived from their text, not exported)."""

    exported_at: datetime
    thread: ThreadOut
    messages: list[MessageOut] = Field(description="Oldest first.")
    runs: list[RunRecord] = Field(description="Oldest first, with their inputs and results.")
    memories: list[MemoryOut] = Field(description="Oldest first: facts, summaries and memories inserted for the thread.")
    truncated: bool = Field(description="true when a list reached the export's limit (it holds the oldest entries).")
