"""Cursors: named positions, such as the mentions timeline's since_id."""

from __future__ import annotations


def test_a_cursor_is_none_until_set_and_then_moves(uow, clock):
    """get() is None before the first set(); set() again moves it."""
    with uow() as tx:
        assert tx.cursors.get("mentions") is None
        tx.cursors.set("mentions", "100", clock())
        tx.cursors.set("mentions", "250", clock.advance(minutes=1))
        tx.cursors.set("mentions-polled", "2026-11-23T12:01:00+00:00", clock())
        tx.commit()

    with uow(readonly=True) as tx:
        assert (tx.cursors.get("mentions"), tx.cursors.get("mentions-polled")) == (
            "250", "2026-11-23T12:01:00+00:00")
