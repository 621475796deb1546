"""Alembic environment: runs on the connection handed over by ``store.migrate``."""

from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlalchemy import text

from store.models import Base, UTCDateTime

MIGRATION_LOCK_ID = 7_220_531  # arbitrary, fixed: one advisory lock for MAS migrations

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `mas db upgrade` (store.migrate), not the alembic CLI")

if connection.dialect.name == "postgresql":
    # Held until the surrounding transaction ends: replicas starting together migrate one at a time.
    connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})



def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render the project's column types as plain SQLAlchemy in generated migrations."""
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, sa.JSON):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
