"""The telemetry section of the settings tree (``runtime.settings`` reads it from ``MAS_`` variables)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TelemetrySettings(BaseModel):
    metrics_tenants: list[str] = Field(
        default_factory=list,
        description="Tenants whose figures carry their own tenant label (JSON list); every other tenant is 'other'.",
    )
    langfuse_public_key: str | None = Field(default=None, description="Langfuse project public key; tracing is off unless "
                                            "both keys are set.")
    langfuse_secret_key: str | None = Field(default=None, description="Langfuse project secret key.")
    langfuse_base_url: str = Field(default="https://cloud.langfuse.com", description="Langfuse server (self-hosted or cloud).")
    langfuse_environment: str = Field(default="default", description="Langfuse tracing environment (lowercase, e.g. production).")
    langfuse_sample_rate: float = Field(default=1.0, ge=0, le=1, description="Share of runs traced.")
    langfuse_flush_seconds: float = Field(default=2.0, ge=0.1, le=60, description="Interval of the background trace export.")
    langfuse_timeout_seconds: int = Field(default=5, ge=1, le=60, description="Timeout of one export request.")
    langfuse_mask_pii: bool = Field(default=True, description="Mask phone numbers, ID numbers, e-mails and names in traces.")

    @property
    def tracing_enabled(self) -> bool:
        return bool(self.langfuse_public_key and self.langfuse_secret_key)
