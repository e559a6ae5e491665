"""Members: linked accounts, the history of their card links, and the fingerprint keys used."""

from __future__ import annotations

from datetime import UTC, date

import pytest

from bot.domain.cards import CardRef, KeyCheck
from bot.domain.members import CardLink, LinkEnd, LinkPeriod, Member, NewLink

ALICE = CardRef("fp-alice", "0005")
BOB = CardRef("fp-bob", "8431")
KEY = KeyCheck("c" * 64)  # key id cccccccc
OTHER_KEY = KeyCheck("d" * 64)  # key id dddddddd
K1, K2 = KEY.key_id, OTHER_KEY.key_id


def test_a_linked_member_is_found_with_what_is_kept_of_the_card(uow, clock):
    """get, get_many and card_owners answer for linked members only, ignoring the unknown."""
    with uow() as tx:
        tx.members.link_many([NewLink("1001", "alice", ALICE), NewLink("1002", "bob", BOB)], clock(), key=KEY)
        tx.commit()

    with uow(readonly=True) as tx:
        assert tx.members.get("1001") == Member("1001", "alice", ALICE, clock(), None, K1)
        assert set(tx.members.get_many(["1002", "4242", "1002"])) == {"1002"}
        assert tx.members.card_owners(["fp-alice", "fp-nobody"]) == {"fp-alice": "1001"}
        assert len(tx.members.fingerprint_index()) == 2
        assert tx.members.fingerprint_index() == {"fp-alice": "1001", "fp-bob": "1002"}


def test_linking_another_card_ends_the_earlier_link_as_replaced(uow, clock):
    """A member's new card makes a new current link; links_of lists both, oldest first."""
    start = clock()
    with uow() as tx:
        tx.members.link_many([NewLink("1001", "alice", ALICE)], start, key=KEY)
        tx.commit()
    later = clock.advance(days=2)
    with uow() as tx:
        tx.members.link_many([NewLink("1001", "alice_new", BOB)], later, key=KEY)
        tx.commit()

    with uow(readonly=True) as tx:
        assert tx.members.get("1001") == Member("1001", "alice_new", BOB, later, None, K1)
        assert tx.members.links_of("1001") == [CardLink("1001", "0005", start, later, LinkEnd.REPLACED, K1),
                                               CardLink("1001", "8431", later, None, None, K1)]


def test_a_card_linked_to_another_account_is_refused(uow, clock):
    """Linking a card another member holds fails rather than moving the card silently."""
    with uow() as tx:
        tx.members.link_many([NewLink("1001", "alice", ALICE)], clock())
        tx.commit()

    with uow() as tx, pytest.raises(Exception):  # noqa: B017, PT011 - the fake's and the driver's own errors
        tx.members.link_many([NewLink("2002", "mallory", ALICE)], clock())


def test_unlinking_forgets_the_card_and_ends_the_link_with_its_reason(uow, clock):
    """unlink clears the card and ends the current link as asked; a second unlink finds nothing."""
    with uow() as tx:
        tx.members.link_many([NewLink("1001", "alice", ALICE)], clock(), key=KEY)
        tx.commit()
    later = clock.advance(hours=3)
    with uow() as tx:
        assert tx.members.unlink("1001", later, ended_by=LinkEnd.STOP) is True
        assert tx.members.unlink("1001", later) is False
        assert tx.members.unlink("4242", later) is False
        tx.commit()

    with uow(readonly=True) as tx:
        member = tx.members.get("1001")
        assert member is not None
        assert (member.card, member.key_id) == (None, None)
        [link] = tx.members.links_of("1001")
        assert (link.unlinked_at, link.ended_by) == (later, LinkEnd.STOP)
        assert tx.members.card_owners(["fp-alice"]) == {}


def test_an_opt_out_is_kept_from_the_first_stop_until_a_new_link(uow, clock):
    """opt_out records accounts never linked too, keeps the first STOP's time, and a link clears it."""
    first = clock()
    with uow() as tx:
        tx.members.opt_out("4242", "@newbie_with_a_long_handle", first)
        tx.members.opt_out("4242", "newbie", clock.advance(days=1))
        tx.commit()
    with uow(readonly=True) as tx:
        assert tx.members.get("4242") == Member("4242", "@newbie_with_a_", None, None, first, None)

    with uow() as tx:
        tx.members.link_many([NewLink("4242", "newbie", ALICE)], clock())
        tx.commit()
    with uow(readonly=True) as tx:
        member = tx.members.get("4242")
    assert member is not None
    assert (member.opted_out_at, member.handle) == (None, "newbie")


def test_relinking_in_place_keeps_the_links_start(uow, clock):
    """relink_in_place changes the handle and fingerprint of a current link, not when it began."""
    start = clock()
    with uow() as tx:
        tx.members.link_many([NewLink("1001", "alice", ALICE)], start, key=KEY)
        tx.commit()
    with uow() as tx:
        tx.members.relink_in_place([NewLink("1001", "alice2", CardRef("fp-alice-k2", "0005"))],
                                   clock.advance(days=1), key=OTHER_KEY)
        tx.members.relink_in_place([], clock(), key=OTHER_KEY)
        tx.commit()

    with uow(readonly=True) as tx:
        assert tx.members.get("1001") == Member("1001", "alice2", CardRef("fp-alice-k2", "0005"), start, None,
                                                K2)
        assert tx.members.links_of("1001") == [CardLink("1001", "0005", start, None, None, K2)]
        assert tx.members.key_checks() == {K1: KEY.check_value, K2: OTHER_KEY.check_value}


def test_a_card_with_an_ended_link_moves_to_the_history_index(uow, clock):
    """card_index answers cards with one current link from the fast map, the others by their link days."""
    start = clock()
    with uow() as tx:
        tx.members.link_many([NewLink("1001", "alice", ALICE), NewLink("1002", "bob", BOB)], start)
        tx.commit()
    with uow() as tx:
        tx.members.unlink("1001", clock.advance(days=2))
        tx.commit()
    with uow() as tx:
        tx.members.link_many([NewLink("1003", "carol", ALICE)], clock.advance(days=3))
        tx.commit()

    with uow(readonly=True) as tx:
        current, history = tx.members.card_index(UTC)
        assert tx.members.card_history(UTC) == history
    assert current == {"fp-bob": "1002"}
    assert history == {"fp-alice": (LinkPeriod("1003", date(2026, 11, 28), None),
                                    LinkPeriod("1001", date(2026, 11, 23), date(2026, 11, 25)))}


def test_keys_are_counted_recorded_once_and_adopted_by_unkeyed_links(uow, clock):
    """key_use counts linked members per key; adopt_key gives unkeyed fingerprints and links a key."""
    with uow() as tx:
        tx.members.link_many([NewLink("1001", "alice", ALICE)], clock())  # before keys were checked
        tx.members.link_many([NewLink("1002", "bob", BOB)], clock(), key=KEY)
        tx.members.record_key(KeyCheck(K1 + "e" * 56), clock())  # the first check value stays
        tx.commit()
    with uow(readonly=True) as tx:
        assert tx.members.key_use() == {None: 1, K1: 1}
        assert tx.members.unkeyed_links() == 1
        assert tx.members.key_checks() == {K1: KEY.check_value}

    with uow() as tx:
        assert tx.members.adopt_key(OTHER_KEY, clock()) == 1
        tx.commit()
    with uow(readonly=True) as tx:
        assert tx.members.key_use() == {K1: 1, K2: 1}
        assert tx.members.unkeyed_links() == 0
