"""The layout's rules (ARCHITECTURE.md), kept by import-linter's contracts in pyproject.toml: the layers, Ray only in
the deployments and the CLI, no import cycles inside a package; and component wiring that needs no ``type: ignore``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_import_contract_is_kept() -> None:
    lint = subprocess.run([Path(sys.executable).parent / "lint-imports", "--no-cache"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout[-4000:] + lint.stderr[-2000:]
    assert "0 broken" in lint.stdout


def test_components_are_wired_without_type_ignores() -> None:
    wiring = [*(REPO / "runtime").glob("*.py"), *(REPO / "deployments").glob("*.py")]
    assert wiring and [path.name for path in wiring if "type: ignore" in path.read_text()] == []
