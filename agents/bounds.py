"""Bounds on what an agent reads besides the message itself: its work grows with them, and operators can send any
of it through ``POST /v1/agents/{name}/invoke``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

# A run's messages are at most 20,000 characters each (api.schemas.runs); the executor passes the last 20.
History = Annotated[
    list[Annotated[str, StringConstraints(max_length=20_000)]],
    Field(max_length=50, description="Earlier customer messages, oldest first (at most 50)."),
]
