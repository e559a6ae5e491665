"""The bot schema: members, campaigns, enrolments, posts, outbox, cursors, the ledger.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 04:31:27.338640
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('hashtag', sa.String(length=101), nullable=False),
    sa.Column('merchant', sa.String(length=60), nullable=False),
    sa.Column('max_enrolments', sa.Integer(), nullable=True),
    sa.Column('enrolled', sa.Integer(), nullable=False),
    sa.Column('budget_cents', sa.Integer(), nullable=True),
    sa.Column('spent_cents', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('cursors',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('value', sa.String(length=50), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('members',
    sa.Column('user_id', sa.String(length=20), nullable=False),
    sa.Column('handle', sa.String(length=15), nullable=False),
    sa.Column('card_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('card_last4', sa.String(length=4), nullable=True),
    sa.Column('linked_at', sa.DateTime(), nullable=True),
    sa.Column('unlinked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('user_id'),
    sa.UniqueConstraint('card_fingerprint')
    )
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=100), nullable=False),
    sa.Column('member_id', sa.String(length=20), nullable=False),
    sa.Column('in_reply_to', sa.String(length=20), nullable=False),
    sa.Column('template', sa.String(length=100), nullable=False),
    sa.Column('context', sa.String(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('sent_post_id', sa.String(length=20), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_member_id'), ['member_id'], unique=False)

    op.create_table('posts',
    sa.Column('post_id', sa.String(length=20), nullable=False),
    sa.Column('author_id', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=True),
    sa.Column('processed_at', sa.DateTime(), nullable=False),
    sa.Column('outcome', sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint('post_id')
    )
    op.create_table('transaction_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('counters', sa.String(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('notices_after', sa.Integer(), nullable=False),
    sa.Column('notices_done', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )
    op.create_table('card_transactions',
    sa.Column('transaction_id', sa.String(length=64), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.String(length=20), nullable=False),
    sa.Column('merchant_id', sa.String(length=64), nullable=False),
    sa.Column('cents', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('original_id', sa.String(length=64), nullable=True),
    sa.Column('outcomes', sa.String(length=1000), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['transaction_files.id'], ),
    sa.PrimaryKeyConstraint('transaction_id'),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('card_transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_transactions_member_id'), ['member_id'], unique=False)

    op.create_table('credits',
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('credit_id', sa.String(length=20), nullable=False),
    sa.Column('transaction_id', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('cents', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('basis_cents', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('reverses', sa.String(length=20), nullable=True),
    sa.Column('refunded_cents', sa.Integer(), server_default='0', nullable=False),
    sa.Column('reversed_cents', sa.Integer(), server_default='0', nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.ForeignKeyConstraint(['file_id'], ['transaction_files.id'], ),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('transaction_id', 'campaign_id', 'kind')
    )
    with op.batch_alter_table('credits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credits_file_id'), ['file_id'], unique=False)

    op.create_table('enrolments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.String(length=20), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('post_id', sa.String(length=20), nullable=False),
    sa.Column('enrolled_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('member_id', 'campaign_id')
    )
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolments_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('rejects',
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('column', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['transaction_files.id'], ),
    sa.PrimaryKeyConstraint('file_id', 'line')
    )


def downgrade() -> None:
    op.drop_table('rejects')
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolments_campaign_id'))

    op.drop_table('enrolments')
    with op.batch_alter_table('credits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credits_file_id'))

    op.drop_table('credits')
    with op.batch_alter_table('card_transactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_transactions_member_id'))

    op.drop_table('card_transactions')
    op.drop_table('transaction_files')
    op.drop_table('posts')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_member_id'))
        batch_op.drop_index('ix_outbox_due')

    op.drop_table('outbox')
    op.drop_table('members')
    op.drop_table('cursors')
    op.drop_table('campaigns')
