"""Product catalog import, lookup and search."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import OrmModel, StrictModel

ProductId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Term = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Terms = Annotated[list[Term], Field(max_length=50)]


class ProductIn(StrictModel):
    product_id: ProductId
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    category: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
    price: Annotated[float, Field(ge=0)] | None = None
    tags: Terms = []
    indications: Terms = []
    contraindications: Terms = []
    aliases: Terms = []


class ImportFailure(BaseModel):
    index: int
    error: str


class ImportResult(BaseModel):
    imported: int
    updated: int
    failed: list[ImportFailure]


class ProductOut(OrmModel):
    product_id: str
    name: str
    category: str
    description: str
    price: float | None
    tags: list[str]
    indications: list[str]
    contraindications: list[str]
    aliases: list[str]
    created_at: datetime
    updated_at: datetime


class ProductHit(BaseModel):
    product_id: str
    name: str
    category: str
    price: float | None
    score: float
    matched_by: list[str]


class ProductSearchResult(BaseModel):
    query: str
    results: list[ProductHit]
