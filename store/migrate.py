"""Apply Alembic migrations programmatically (on start, in every replica, and in tests).

Concurrent starters are serialised: a PostgreSQL advisory lock (in ``env.py``)
or, for the embedded SQLite file, an exclusive file lock beside it.
"""

from __future__ import annotations

import fcntl
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from store.models import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def upgrade_to_head(engine: AsyncEngine) -> None:
    with _sqlite_file_lock(engine):
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade)


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def pending_model_changes(connection: Connection) -> list[object]:
    """What the models define that the migrated schema lacks (empty when they agree)."""
    return list(compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata))


def new_revision(message: str) -> Path:
    """Autogenerate the next numbered migration from the models, diffed against a scratch SQLite at head."""
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/scratch.db")
        with engine.begin() as connection:
            _upgrade(connection)
            config = alembic_config()
            config.attributes["connection"] = connection
            number = len(list((MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))) + 1
            script = command.revision(config, message=message, autogenerate=True, rev_id=f"{number:04d}")
        engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


@contextmanager
def _sqlite_file_lock(engine: AsyncEngine) -> Iterator[None]:
    url = make_url(str(engine.url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    lock_path = Path(url.database).with_suffix(".migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
