"""Apply Alembic migrations programmatically (on start, in every replica, and in tests).

Concurrent starters are serialised: a PostgreSQL advisory lock (in ``env.py``)
or, for the embedded SQLite file, an exclusive file lock beside it.
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def upgrade_to_head(engine: AsyncEngine) -> None:
    with _sqlite_file_lock(engine):
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade)


def _upgrade(connection) -> None:  # type: ignore[no-untyped-def]
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


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
