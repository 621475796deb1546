"""Long-term memories of a tenant's threads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import StrictModel

MemoryText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class MemoryInsert(StrictModel):
    thread_id: str
    memories: Annotated[list[MemoryText], Field(min_length=1, max_length=100)]
    tags: Annotated[list[Tag], Field(max_length=20)] = []


class InsertOutcome(BaseModel):
    index: int
    success: bool
    memory_id: str | None = None
    error: str | None = None


class InsertTotals(BaseModel):
    total: int
    succeed: int
    failed: int


class MemoryInsertResult(BaseModel):
    results: list[InsertOutcome]
    metadata: InsertTotals


class MemoryDelete(StrictModel):
    thread_id: str
    memory_id: str


class MemoryOut(BaseModel):
    memory_id: str
    thread_id: str
    text: str
    memory_type: str
    tags: list[str]
    importance: float
    created_at: datetime


class MemoryHit(MemoryOut):
    score: float
    matched_by: list[str]


class MemorySearchResult(BaseModel):
    results: list[MemoryHit]
