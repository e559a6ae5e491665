"""The merchant dashboard's data: every purchase at a campaign merchant by a linked card, and the
stored reports (issue 12 phase 2).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('merchant_purchases',
    sa.Column('transaction_id', sa.String(length=64).with_variant(sa.String(length=64, collation='C'),
                                                                  'postgresql'), nullable=False),
    sa.Column('member_id', sa.String(length=20), nullable=False),
    sa.Column('merchant_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('cents', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('refund_of', sa.String(length=64), nullable=True),
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('transaction_id'),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('merchant_purchases', schema=None) as batch_op:
        batch_op.create_index('ix_merchant_purchases_merchant_day', ['merchant_id', 'day'], unique=False)

    op.create_table('dashboard_reports',
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('stamp', sa.String(length=200), nullable=False),
    sa.Column('as_of', sa.DateTime(), nullable=False),
    sa.Column('min_members', sa.Integer(), nullable=False),
    sa.Column('data', sa.String(), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('campaign_id')
    )
    # Purchases kept before this revision, by enrolled members (card_transactions), are the
    # history the dashboard starts from.
    op.execute("INSERT INTO merchant_purchases (transaction_id, member_id, merchant_id, day, cents, "
               "currency, refund_of, file_id) SELECT transaction_id, member_id, merchant_id, day, "
               "cents, currency, CASE WHEN kind = 'refund' THEN original_id END, file_id "
               "FROM card_transactions WHERE kind = 'purchase' OR original_id IS NOT NULL")


def downgrade() -> None:
    op.drop_table('dashboard_reports')
    with op.batch_alter_table('merchant_purchases', schema=None) as batch_op:
        batch_op.drop_index('ix_merchant_purchases_merchant_day')
    op.drop_table('merchant_purchases')
