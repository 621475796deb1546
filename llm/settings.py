"""The LLM section of the settings tree (``runtime.settings``, which reads it from ``MAS_`` variables).

Provider credentials are not here: models.yaml names the variable each
provider reads (``api_key_env``, ``base_url_env``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator


class LLMSettings(BaseModel):
    models_config: Path = Field(description="The model catalog; default: models.yaml of the config dir.")
    redis_url: str | None = Field(default=None, description="Shared per-tenant LLM limits across replicas; in-memory when unset.")
    # Load tests: override the simulated provider's knobs for every simulated model.
    simulated_ttft_ms: float | None = None
    simulated_tokens_per_s: float | None = None
    simulated_output_tokens: int | None = None
    simulated_error_rate: float | None = None
    simulated_rate_limit_rate: float | None = None
    simulated_timeout_rate: float | None = None
    simulated_seed: int | None = None

    @field_validator("models_config")
    @classmethod
    def _absolute_models_config(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    def simulated_overrides(self) -> dict[str, Any]:
        prefix = "simulated_"
        return {
            name.removeprefix(prefix): value
            for name, value in self.model_dump().items()
            if name.startswith(prefix) and value is not None
        }
