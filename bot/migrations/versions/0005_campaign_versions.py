"""Campaign versions: each campaign keeps the last good definition of its file, the file's
name and when that version was installed.

Existing rows keep their counters; their definition, source and loaded_at stay empty until the
bot next loads the campaign files, which saves every valid file's version.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("definition", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("source", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("loaded_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("loaded_at")
        batch_op.drop_column("source")
        batch_op.drop_column("definition")
