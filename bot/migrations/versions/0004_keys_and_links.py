"""Keys and links: the check value of each card fingerprint key, the key of each member's
fingerprint, the history of card links, and members' opt-outs.

Backfills one current link per linked member (from the earlier of its link time and its first
enrolment: members.linked_at moved whenever a handle changed), and the opt-out of each unlinked
member whose last STOP came after their last link. Nothing is known of the key existing
fingerprints were made with: key_id stays NULL until the first start adopts the configured key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 16:50:57.901762
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('card_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.String(length=20), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('key_id', sa.String(length=8), nullable=True),
    sa.Column('linked_at', sa.DateTime(), nullable=False),
    sa.Column('unlinked_at', sa.DateTime(), nullable=True),
    sa.Column('ended_by', sa.String(length=10), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('card_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_links_fingerprint'), ['fingerprint'], unique=False)
        batch_op.create_index(batch_op.f('ix_card_links_member_id'), ['member_id'], unique=False)

    op.create_table('fingerprint_keys',
    sa.Column('key_id', sa.String(length=8), nullable=False),
    sa.Column('check_value', sa.String(length=64), nullable=False),
    sa.Column('first_used_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key_id')
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('opted_out_at', sa.DateTime(), nullable=True))

    now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as the tables keep time
    op.execute(sa.text("""
        INSERT INTO card_links (member_id, fingerprint, last4, key_id, linked_at)
        SELECT m.user_id, m.card_fingerprint, COALESCE(m.card_last4, ''), NULL,
               CASE WHEN e.first_at IS NOT NULL AND (m.linked_at IS NULL OR e.first_at < m.linked_at)
                    THEN e.first_at ELSE COALESCE(m.linked_at, :now) END
        FROM members m
        LEFT JOIN (SELECT member_id, MIN(enrolled_at) AS first_at FROM enrolments GROUP BY member_id) e
               ON e.member_id = m.user_id
        WHERE m.card_fingerprint IS NOT NULL
        ORDER BY m.user_id
    """).bindparams(sa.bindparam("now", now, type_=sa.DateTime())))
    op.execute(sa.text("""
        UPDATE members SET opted_out_at = (
            SELECT MAX(p.processed_at) FROM posts p
            WHERE p.author_id = members.user_id AND p.outcome LIKE 'stop%'
              AND (members.linked_at IS NULL OR p.processed_at >= members.linked_at))
        WHERE card_fingerprint IS NULL
    """))


def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('opted_out_at')
        batch_op.drop_column('key_id')

    op.drop_table('fingerprint_keys')
    with op.batch_alter_table('card_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_links_member_id'))
        batch_op.drop_index(batch_op.f('ix_card_links_fingerprint'))

    op.drop_table('card_links')
