"""Handled posts: the guard that makes polling idempotent. The only writer of the posts table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, select

from bot.adapters.sql.bulk_insert import BulkInsert
from bot.adapters.sql.tables import posts_t
from bot.adapters.sql.toolkit import InLookup, key_in, native
from bot.domain.mentions import HandledPost


class PostRepository:
    """Mentions already handled: the guard that makes polling idempotent."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def seen(self, post_ids: Sequence[str]) -> set[str]:
        """Return which of ``post_ids`` were handled before."""
        found: set[str] = set()
        for where in key_in(self._conn, posts_t.c.post_id, post_ids):
            found.update(self._conn.execute(select(posts_t.c.post_id).where(where)).scalars())
        return found

    _VERSIONS = InLookup(posts_t, "interaction_id", ("interaction_id", "post_id", "hashtags"))

    def versions(self, interaction_ids: Sequence[str]) -> dict[str, dict[str, tuple[str, ...]]]:
        """Return the handled posts of each interaction: interaction -> post id -> hashtag keys.

        An original is its own interaction, so this answers "was this post handled?" as well.
        """
        found: dict[str, dict[str, tuple[str, ...]]] = defaultdict(dict)
        for interaction, post_id, hashtags in self._VERSIONS.run(self._conn,
                                                                 list(dict.fromkeys(interaction_ids))):
            found[interaction][post_id] = tuple(hashtags.split())
        return found

    _ADD = BulkInsert(posts_t, ("post_id", "interaction_id", "hashtags", "author_id", "created_at",
                                "processed_at", "outcome"))

    def add_many(self, posts: Sequence[HandledPost]) -> None:
        """Record handled posts (an interaction id of None: the post is its own original)."""
        if posts:
            when = native(self._conn)
            self._ADD.run(self._conn, [
                (p.post_id, p.interaction_id or p.post_id, p.hashtags[:500], p.author_id,
                 p.created_at and when(p.created_at), when(p.processed_at), p.outcome)
                for p in posts])
