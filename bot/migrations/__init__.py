"""Alembic migrations of the bot's database (run them with `offerbot db upgrade`)."""
