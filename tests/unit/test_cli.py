"""The operator command: app keys are created, listed without their secret, and revoked."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from mas.cli import main
from runtime.services import Services
from runtime.settings import Settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MAS_DATABASE_URL", raising=False)
    return tmp_path


def _verify(key: str) -> object:
    async def run() -> object:
        services = await Services.open(Settings())
        try:
            return await services.app_keys.verify(key)
        finally:
            await services.close()

    return asyncio.run(run())


def test_keys_create_list_revoke(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--name", "brand", "--tenant", "glow", "--scopes", "tenant:chat,tenant:admin"]) == 0
    created = capsys.readouterr().out
    key = re.search(r"app key: (\S+)", created).group(1)
    key_id = re.search(r"key_id:\s+(\S+)", created).group(1)
    record = _verify(key)
    assert record.tenant_id == "glow" and record.scopes == ["tenant:admin", "tenant:chat"]

    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "active" in listing and key.split("_", 2)[2] not in listing

    assert main(["keys", "revoke", key_id]) == 0
    assert _verify(key) is None
    assert main(["keys", "revoke", key_id]) == 1


@pytest.mark.parametrize("scopes", ["tenant:chat,root", "", " , "])
def test_keys_create_refuses_unknown_or_empty_scopes(data_dir: Path, scopes: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--name", "x", "--tenant", "*", "--scopes", scopes]) == 2
    assert "scopes must be" in capsys.readouterr().err
    assert main(["keys", "list"]) == 0
    assert capsys.readouterr().out == ""  # nothing was created


def test_db_upgrade_names_the_database_but_not_its_password(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["db", "upgrade"]) == 0
    assert str(data_dir / "mas.db") in capsys.readouterr().out
    monkeypatch.setattr("mas.cli._with_services", lambda settings, work: None)
    monkeypatch.setenv("MAS_DATABASE_URL", "postgresql+asyncpg://mas:s3cret@db.internal:5432/mas")
    assert main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert "db.internal:5432/mas" in out and "s3cret" not in out
