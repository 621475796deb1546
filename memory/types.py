"""The models that cross the memory boundary (and Ray handles: plain pydantic, picklable)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, field_validator

MemoryType = Literal["episodic", "summary", "manual"]
MatchSource = Literal["vector", "keyword"]


class TurnMessage(BaseModel):
    role: Literal["user", "assistant", "system"]
    content: str
    created_at: datetime | None = None


class MemoryRecord(BaseModel):
    memory_id: str
    tenant_id: str
    thread_id: str
    text: str
    memory_type: MemoryType
    tags: list[str] = []
    importance: float = 0.5
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        """Always tz-aware UTC; a naive value is taken to be UTC already."""
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class ScoredMemory(BaseModel):
    memory: MemoryRecord
    score: float
    matched_by: list[MatchSource]


class Recall(BaseModel):
    window: list[TurnMessage]
    memories: list[ScoredMemory]


class ProductDoc(BaseModel):
    product_id: str
    name: str
    category: str = ""
    description: str = ""
    price: float | None = None
    tags: list[str] = []
    indications: list[str] = []
    contraindications: list[str] = []
    aliases: list[str] = []


class ScoredProduct(BaseModel):
    product_id: str
    name: str
    score: float
    matched_by: list[MatchSource]
