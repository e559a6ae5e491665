"""Handled posts: the guard that makes polling idempotent, and the versions of an interaction."""

from __future__ import annotations

import pytest

from bot.domain.mentions import HandledPost
from tests.fakes import START


def test_handled_posts_are_seen_and_grouped_by_interaction(uow, clock):
    """A post is its own interaction unless it is an edit; versions() lists each one's hashtag keys."""
    with uow() as tx:
        tx.posts.add_many([
            HandledPost("1", "1001", START, clock(), "enrolled", hashtags="amexmcdonalds"),
            HandledPost("2", "1001", None, clock(), "edit of 1: enrolled", interaction_id="1",
                        hashtags="amexmcdonalds amexzappos"),
            HandledPost("3", "1002", START, clock(), "none")])
        tx.commit()

    with uow(readonly=True) as tx:
        assert tx.posts.seen(["1", "2", "4", "1"]) == {"1", "2"}
        assert tx.posts.versions(["1", "3", "9"]) == {
            "1": {"1": ("amexmcdonalds",), "2": ("amexmcdonalds", "amexzappos")}, "3": {"3": ()}}
        assert tx.posts.versions([]) == {}


def test_a_post_is_handled_once(uow, clock):
    """Recording a post id handled before fails, as its primary key does."""
    with uow() as tx:
        tx.posts.add_many([HandledPost("1", "1001", START, clock(), "enrolled")])
        tx.commit()

    with uow() as tx, pytest.raises(Exception):  # noqa: B017, PT011 - the fake's and the driver's own errors
        tx.posts.add_many([HandledPost("1", "1001", START, clock(), "enrolled")])
