"""The repository's config dir, for tests that build components the way the composition root does (from a config dir)."""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
