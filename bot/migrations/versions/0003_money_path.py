"""The money path: rows staged to be decided in time order, refunds waiting for their purchase,
each refund's state, and `reconcile --again` (runs per file).

Existing files keep working: a reconciled file is done (run 1); a file left running by an
earlier version resumes by staging the rows it had not reached. A kept refund's state is read
from the outcomes it was given (a clawback or a kept credit means it was applied).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:12:05.417203
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TXN_ID = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table('staged_transactions',
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('transaction_id', TXN_ID, nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.String(length=20), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('merchant_id', sa.String(length=64), nullable=False),
    sa.Column('cents', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('original_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['file_id'], ['transaction_files.id'], ),
    sa.PrimaryKeyConstraint('file_id', 'day', 'transaction_id'),
    sa.UniqueConstraint('transaction_id', 'file_id'),
    sqlite_with_rowid=False
    )
    op.create_table('pending_refunds',
    sa.Column('transaction_id', TXN_ID, nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.String(length=20), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('merchant_id', sa.String(length=64), nullable=False),
    sa.Column('cents', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('original_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['file_id'], ['transaction_files.id'], ),
    sa.PrimaryKeyConstraint('transaction_id')
    )
    with op.batch_alter_table('pending_refunds', schema=None) as batch_op:
        batch_op.create_index('ix_pending_refunds_order', ['day', 'transaction_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pending_refunds_member_id'), ['member_id'], unique=False)

    with op.batch_alter_table('card_transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refund_state', sa.String(length=10), nullable=True))
    with op.batch_alter_table('transaction_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phase', sa.String(length=10), nullable=False, server_default='done'))
        batch_op.add_column(sa.Column('decided_day', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('decided_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('run', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('credits_before', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('earlier_runs', sa.String(), nullable=False, server_default='[]'))

    # A file an earlier version left running stages the rows it had not reached, then decides them.
    op.execute("UPDATE transaction_files SET phase = 'stage' WHERE status <> 'reconciled'")
    op.execute("UPDATE card_transactions SET refund_state = CASE "
               "WHEN outcomes LIKE '%=clawback%' OR outcomes LIKE '%=refund, credit kept%' THEN 'applied' "
               "ELSE 'unmatched' END WHERE kind = 'refund'")


def downgrade() -> None:
    with op.batch_alter_table('transaction_files', schema=None) as batch_op:
        batch_op.drop_column('earlier_runs')
        batch_op.drop_column('credits_before')
        batch_op.drop_column('run')
        batch_op.drop_column('decided_id')
        batch_op.drop_column('decided_day')
        batch_op.drop_column('phase')
    with op.batch_alter_table('card_transactions', schema=None) as batch_op:
        batch_op.drop_column('refund_state')
    with op.batch_alter_table('pending_refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_refunds_member_id'))
        batch_op.drop_index('ix_pending_refunds_order')
    op.drop_table('pending_refunds')
    op.drop_table('staged_transactions')
