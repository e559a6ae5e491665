"""Alembic environment: runs migrations on the connection bot.adapters.migrations hands over."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlmodel import SQLModel

from bot.adapters.sql import tables  # noqa: F401 - registers the tables on SQLModel.metadata


def render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write the bot's own column types as plain SQLAlchemy ones in generated migrations."""
    if kind == "type":
        name = type(obj).__name__
        if name == "UTCDateTime":
            return "sa.DateTime()"
        if name == "AutoString":
            return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_item=render_item,
                  render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
