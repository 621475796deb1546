"""The settings tree: every knob is an environment variable with the ``MAS_`` prefix, read here and only here.

``Settings`` holds the app's own fields and, by inheritance, the LLM and memory sections (``llm.settings``,
``memory.settings``: plain models, so those packages never read the environment): a ``Settings`` is passed
wherever a section is expected. On Serve, ``serve.yaml`` may set any field for every deployment
(``args: {settings: {...}}``); those values win over the environment.

The defaults run the whole service with zero setup (SQLite under the data
directory, a JWT secret generated into it); each production backend is
switched on by setting its URL.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from llm.settings import LLMSettings
from memory.settings import MemorySettings
from runs.settings import RunsSettings
from telemetry.settings import TelemetrySettings

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings, MemorySettings, LLMSettings, RunsSettings, TelemetrySettings):
    model_config = SettingsConfigDict(env_prefix="MAS_", extra="ignore")

    data_dir: Path = Field(default=Path(".mas"), description="Embedded state: SQLite file, JWT secret, dev key, vector files.")
    config_dir: Path = Field(default=REPO_ROOT / "configs", description="models.yaml, prompt templates, rule packs, lexicons.")
    database_url: str | None = Field(default=None, description="SQLAlchemy async URL; default SQLite in data_dir.")
    jwt_secret: str | None = Field(default=None, description="HS256 secret shared by all replicas.")
    jwt_issuer: str = "mas"
    jwt_audience: str = "mas-api"
    token_ttl_seconds: int = Field(default=3600, ge=60, le=86400)
    key_recheck_seconds: float = Field(
        default=2.0, ge=0, le=60, description="How long a replica trusts that a token's app key is still active (revocation delay)."
    )
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    public_url: str = Field(default="http://127.0.0.1:8000", description="Where clients reach the ingress.")
    sentiment_mode: Literal["offline", "llm"] = Field(
        default="offline", description="Sentiment agent: offline lexicon, or the LLM router's structured output (falls back to offline)."
    )
    agent_timeout_seconds: float = Field(
        default=10.0, ge=0.1, le=300, description="An optional agent (sentiment, intent, memory, products) slower than this degrades the run."
    )
    webhook_secret: str | None = Field(default=None, description="HMAC-SHA256 key of run webhooks (X-MAS-Signature).")

    @model_validator(mode="before")
    @classmethod
    def _models_config_in_config_dir(cls, values: Any) -> Any:
        """The catalog defaults to models.yaml of the config dir, so MAS_CONFIG_DIR moves it too."""
        if isinstance(values, dict) and values.get("models_config") is None:
            values = {**values, "models_config": Path(values.get("config_dir") or REPO_ROOT / "configs") / "models.yaml"}
        return values

    @field_validator("data_dir", "config_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Replicas run in other working directories: paths must not depend on cwd.
        return value.expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'mas.db'}"

    @cached_property
    def effective_jwt_secret(self) -> str:
        """The configured secret, else one generated once into the data dir.

        Every replica on the machine reads the same file, so tokens issued by
        one replica verify on all of them.
        """
        return self.jwt_secret or self._generated_secret("jwt_secret")

    @cached_property
    def effective_webhook_secret(self) -> str:
        """The configured webhook key, else one generated once into the data dir (shared like the JWT secret)."""
        return self.webhook_secret or self._generated_secret("webhook_secret")

    def _generated_secret(self, name: str) -> str:
        """The secret in ``data_dir/name``, written there first by whichever process gets there first."""
        path = self.data_dir / name
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            candidate = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
            candidate.write_text(secrets.token_urlsafe(48))
            candidate.chmod(0o600)
            try:
                _link_if_absent(candidate, path)
            finally:
                candidate.unlink(missing_ok=True)
        return path.read_text().strip()


def _link_if_absent(source: Path, target: Path) -> None:
    """Atomically publish ``source`` as ``target`` unless another process already did."""
    try:
        target.hardlink_to(source)
    except FileExistsError:
        pass
