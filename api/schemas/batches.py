"""Batch jobs: the submission body and what progress and listing answer (``runs.batches`` does the work)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import JsonInteger, StrictModel
from runs.batches import MAX_ITEMS, BatchKind, Progress, ReindexTarget


class BatchSource(StrictModel):
    """Where a campaign's threads come from instead of ``items``: the tenant's threads inactive this long."""

    inactive_days: Annotated[int, Field(ge=1, le=3650), JsonInteger()]


class BatchOptions(StrictModel):
    agent: Literal["compliance", "sentiment", "intent"] | None = Field(
        default=None, description="evaluate: the agent whose answers are compared with the rows' labels.")
    target: ReindexTarget | None = Field(default=None, description="reindex: what to embed again (default all).")


class BatchCreate(StrictModel):
    kind: BatchKind = Field(description="social.comment|reply|keywords|beautify: each item is that endpoint's body; campaign: "
                                        "thread ids; evaluate: labelled rows (options.agent); reindex: no items "
                                        "(options.target: the tenant's products, memories or all).")
    items: list[Any] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    source: BatchSource | None = None
    options: BatchOptions = BatchOptions()


class BatchAccepted(BaseModel):
    batch_id: str
    state: str
    total: int


class BatchPage(BaseModel):
    items: list[Progress]
    total: int
    page: int
    page_size: int
