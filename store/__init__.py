"""Relational store: SQLAlchemy async models, repositories and Alembic migrations."""
