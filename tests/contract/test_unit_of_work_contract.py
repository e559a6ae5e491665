"""The unit of work: what is committed is kept, the rest is rolled back."""

from __future__ import annotations

from tests.fakes import campaign


def test_what_was_not_committed_is_gone(uow, clock):
    """Writes of a block left without commit() are rolled back; a committed block's writes stay."""
    with uow() as tx:
        tx.cursors.set("mentions", "5", clock())
        tx.commit()
    with uow() as tx:
        tx.cursors.set("mentions", "9", clock())
        tx.campaigns.sync([campaign()], clock())

    with uow(readonly=True) as tx:
        assert tx.cursors.get("mentions") == "5"
        assert tx.campaigns.records() == []


def test_a_transaction_sees_its_own_writes_before_it_commits(uow, clock):
    """Inside one unit of work a write is read back at once, as the services rely on."""
    with uow() as tx:
        tx.cursors.set("mentions", "7", clock())
        assert tx.cursors.get("mentions") == "7"
