from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, computed_field

from api.schemas.common import JsonObject, OrmModel, PatchModel, ShortText, StrictModel, TenantId
from runs.retention import RetentionPolicy


def _checked(features: dict[str, Any] | None) -> dict[str, Any] | None:
    """Free-form, but for the keys the service reads: ``retention`` must be a ``RetentionPolicy``."""
    if features and features.get("retention") is not None:
        features["retention"] = RetentionPolicy.model_validate(features["retention"]).model_dump(exclude_none=True)
    return features


FEATURES_DESCRIPTION = ('Free-form settings; the service reads "quiet_hours" ({"start": "21:00", "end": "09:00"}, '
                        'Asia/Shanghai) and "retention" ({"messages_days": 365, "memories_days": 180}: older data is '
                        'deleted by a periodic sweep).')
Features = Annotated[JsonObject, AfterValidator(_checked), Field(description=FEATURES_DESCRIPTION)]


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
    features: Features = Field(default_factory=dict)


class TenantUpdate(PatchModel):
    not_nullable = frozenset({"tenant_name", "status", "features"})

    tenant_name: ShortText | None = None
    status: TenantStatus | None = Field(None, strict=False)
    industry: str | None = Field(None, max_length=100)
    creator: str | None = Field(None, max_length=100)
    features: Features | None = None


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
