from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import Field, computed_field

from api.schemas.common import JsonObject, OrmModel, PatchModel, ShortText, StrictModel, TenantId


class TenantStatus(str, Enum):
    ACTIVE = "ACTIVE"
    BANNED = "BANNED"
    CLOSED = "CLOSED"


class TenantSync(StrictModel):
    tenant_id: TenantId
    tenant_name: ShortText
    status: TenantStatus = Field(TenantStatus.ACTIVE, strict=False)
    industry: str | None = Field(None, max_length=100)
    creator: str | None = Field(None, max_length=100)
    features: JsonObject = Field(default_factory=dict)


class TenantUpdate(PatchModel):
    not_nullable = frozenset({"tenant_name", "status", "features"})

    tenant_name: ShortText | None = None
    status: TenantStatus | None = Field(None, strict=False)
    industry: str | None = Field(None, max_length=100)
    creator: str | None = Field(None, max_length=100)
    features: JsonObject | None = None


class TenantOut(OrmModel):
    tenant_id: str
    tenant_name: str
    status: TenantStatus
    industry: str | None
    creator: str | None
    features: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE
