"""Several instances: leases (the poller's leadership, the reconciliation claim); the sender
and the thread of each reply.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 04:31:42.162050
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leases',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('holder', sa.String(length=100), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('acquired_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('thread', sa.String(length=30), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_thread'), ['thread'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_thread'))
        batch_op.drop_column('thread')
        batch_op.drop_column('claimed_by')
    op.drop_table('leases')
