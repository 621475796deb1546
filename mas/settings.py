"""Settings: every knob is an environment variable with the ``MAS_`` prefix.

The defaults run the whole service with zero setup (SQLite under the data
directory, a JWT secret generated into it); each production backend is
switched on by setting its URL.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAS_", extra="ignore")

    data_dir: Path = Field(default=Path(".mas"), description="Embedded state: SQLite file, JWT secret, dev key.")
    config_dir: Path = Field(default=REPO_ROOT / "configs", description="serve.yaml, prompt templates, rule packs.")
    database_url: str | None = Field(default=None, description="SQLAlchemy async URL; default SQLite in data_dir.")
    redis_url: str | None = Field(default=None, description="Redis URL; checked by /v1/ready when set.")
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
    webhook_allow_private: bool = Field(
        default=False, description="Let run webhooks target loopback and private addresses (refused by default: SSRF)."
    )
    webhook_secret: str | None = Field(default=None, description="HMAC-SHA256 key of run webhooks (X-MAS-Signature).")
    run_lease_seconds: float = Field(
        default=30.0, ge=0.1, le=3600, description="Thread run lease and async-run claim TTL, renewed every third of it."
    )
    run_max_attempts: int = Field(
        default=3, ge=1, le=100, description="Claims of an async run that may expire before it fails with RUN_ABANDONED."
    )
    worker_poll_seconds: float = Field(default=1.0, ge=0.01, le=60, description="How often an idle run worker looks for work.")
    worker_concurrency: int = Field(default=8, ge=1, le=1000, description="Async runs one replica's worker executes at once.")
    webhook_attempts: int = Field(default=6, ge=1, le=50, description="Delivery attempts of a run webhook before it is failed.")
    webhook_backoff_seconds: float = Field(
        default=2.0, ge=0.01, le=300, description="First webhook retry delay; doubles per attempt (with jitter, capped at 5 min)."
    )
    webhook_timeout_seconds: float = Field(default=10.0, ge=0.1, le=120, description="Timeout of one webhook POST.")

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
