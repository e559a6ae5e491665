"""Direct messages and edited posts: the channel of each outbox message (reply or dm) and the
final status 'undeliverable'; the interaction of each handled post and the hashtags it named.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=5), nullable=False, server_default='reply'))
        batch_op.alter_column('status', existing_type=sa.String(length=10), type_=sa.String(length=16),
                              existing_nullable=False)
    # Credit notices not sent yet go out as direct messages, like every notice from now on: a
    # public reply would tell everyone where and when the member shopped. Sent ones stay replies.
    op.get_bind().execute(
        sa.text("UPDATE outbox SET channel = 'dm', thread = NULL "
                "WHERE dedupe_key LIKE :notices AND status IN ('pending', 'sending', 'failed')"),
        {"notices": "credit:%"})
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('channel', existing_type=sa.String(length=5), server_default=None,
                              existing_nullable=False)

    # Posts handled so far were originals as far as the bot knew: each is its own interaction.
    # Their hashtags were not kept; an edit of one treats all its hashtags as new, so at worst
    # it repeats news such as "sold out" once (campaigns already joined are still skipped).
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('interaction_id', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('hashtags', sa.String(length=500), nullable=False, server_default=''))
    op.get_bind().execute(sa.text("UPDATE posts SET interaction_id = post_id"))
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.alter_column('interaction_id', existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column('hashtags', existing_type=sa.String(length=500), server_default=None,
                              existing_nullable=False)
        batch_op.create_index(batch_op.f('ix_posts_interaction_id'), ['interaction_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_posts_interaction_id'))
        batch_op.drop_column('hashtags')
        batch_op.drop_column('interaction_id')
    op.get_bind().execute(sa.text("UPDATE outbox SET status = 'failed' WHERE status = 'undeliverable'"))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=16), type_=sa.String(length=10),
                              existing_nullable=False)
        batch_op.drop_column('channel')
