"""The card fingerprint key: its check value is stored at the first link, a start with another key is
refused, and a rotation matches cards under both keys until every member is re-linked."""

from __future__ import annotations

import logging
from datetime import UTC, timedelta

import pytest
from sqlalchemy import Engine, text

from bot.adapters.locks import locks_for
from bot.domain.cards import Fingerprinter, key_check
from bot.errors import ConfigError, MemberError
from bot.services.keys import check_fingerprint_keys, key_use
from bot.services.members import import_members, link_member
from bot.services.reconciliation import ReconcileDeps, reconcile_file
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD, credits_in_db, tx_row

OLD, NEW, OTHER = Fingerprinter(b"o" * 32), Fingerprinter(b"n" * 32), Fingerprinter(b"x" * 32)


def dump(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables a start could write to."""
    with engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all()]
                for t in ("members", "card_links", "fingerprint_keys")}


def test_the_first_link_stores_the_keys_check_value_never_the_key(uow, clock, engine):
    """Linking records the key id and check value (an HMAC of a fixed label) beside the fingerprint."""
    link_member(uow, OLD, clock, "1001", "alice", ALICE_CARD)

    rows = dump(engine)
    [(key_id, check, _)] = rows["fingerprint_keys"]
    assert (key_id, check) == (OLD.check.key_id, OLD.check.check_value)
    assert check == key_check(b"o" * 32).check_value
    assert (b"o" * 32).hex() not in str(rows)
    with uow(readonly=True) as tx:
        assert tx.members.get("1001").key_id == OLD.check.key_id
        assert [link.key_id for link in tx.members.links_of("1001")] == [OLD.check.key_id]


def test_another_key_is_refused_and_nothing_is_written(uow, clock, engine):
    """With members linked under one key, a start with another names the key, the count and the fix."""
    for user_id, card in (("1001", ALICE_CARD), ("1002", BOB_CARD)):
        link_member(uow, OLD, clock, user_id, f"m{user_id}", card)
    before = dump(engine)

    with pytest.raises(ConfigError) as info:
        check_fingerprint_keys(uow, clock, NEW.check, None)

    message = str(info.value)
    assert message.startswith("environment: OFFERBOT_FINGERPRINT_KEY: the configured fingerprint key "
                              f"(key id {NEW.check.key_id}) is not the one the 2 linked members' cards "
                              f"were fingerprinted with (key id {OLD.check.key_id})")
    assert ("Fix: set OFFERBOT_FINGERPRINT_KEY to the key they were linked with, or, to rotate, put the "
            "old key in OFFERBOT_FINGERPRINT_KEY_PREVIOUS and re-link the members (offerbot sync import)"
            ) in message
    assert dump(engine) == before


def test_the_right_key_and_a_rotations_previous_key_are_accepted(uow, clock):
    """The key members were linked with passes; so does a new key with the old one as previous."""
    link_member(uow, OLD, clock, "1001", "alice", ALICE_CARD)

    assert check_fingerprint_keys(uow, clock, OLD.check, None).on_current == 1
    rotation = check_fingerprint_keys(uow, clock, NEW.check, OLD.check)
    assert (rotation.on_current, rotation.on_previous) == (0, 1)


def test_removing_the_previous_key_while_members_still_use_it_is_refused(uow, clock):
    """A member still on the old key blocks a start that no longer has it, naming both keys."""
    link_member(uow, OLD, clock, "1001", "alice", ALICE_CARD)
    link_member(uow, NEW, clock, "1002", "bob", BOB_CARD)

    with pytest.raises(ConfigError, match=f"1 linked members' cards were fingerprinted with \\(key id "
                                          f"{OLD.check.key_id}\\)"):
        check_fingerprint_keys(uow, clock, NEW.check, None)
    with pytest.raises(ConfigError, match=f"neither the configured fingerprint key \\(key id "
                                          f"{NEW.check.key_id}\\) nor OFFERBOT_FINGERPRINT_KEY_PREVIOUS"):
        check_fingerprint_keys(uow, clock, NEW.check, OTHER.check)


def test_members_linked_before_keys_were_checked_adopt_the_configured_key_once(uow, clock, engine, caplog):
    """Fingerprints of unknown key (an upgraded database) are taken as the configured key's, logged once."""
    link_member(uow, OLD, clock, "1001", "alice", ALICE_CARD)
    with engine.begin() as conn:  # as the migration leaves them
        conn.exec_driver_sql("UPDATE members SET key_id = NULL")
        conn.exec_driver_sql("UPDATE card_links SET key_id = NULL")
        conn.exec_driver_sql("DELETE FROM fingerprint_keys")

    with caplog.at_level(logging.WARNING, logger="bot.services.keys"):
        first = check_fingerprint_keys(uow, clock, OLD.check, None)
        second = check_fingerprint_keys(uow, clock, OLD.check, None)

    assert (first.on_current, second.on_current) == (1, 1)
    [record] = [r for r in caplog.records if "before fingerprint keys were checked" in r.getMessage()]
    assert f"key id {OLD.check.key_id}, the configured key" in record.getMessage()
    with pytest.raises(ConfigError):
        check_fingerprint_keys(uow, clock, NEW.check, None)


def test_members_of_unknown_key_adopt_the_previous_key_during_a_rotation(uow, clock, engine):
    """Upgrading in the middle of a rotation: the old fingerprints belong to the previous key."""
    link_member(uow, OLD, clock, "1001", "alice", ALICE_CARD)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE members SET key_id = NULL")

    use = check_fingerprint_keys(uow, clock, NEW.check, OLD.check)

    assert (use.on_current, use.on_previous) == (0, 1)


def test_a_file_reconciles_members_on_both_keys_during_a_rotation(uow, clock, engine, ledger, make_csv):
    """Half the members re-linked with the new key, half still on the old one: both are credited."""
    with engine.begin() as conn:  # the ledger fixture linked Alice, Bob, Carol with its own key
        conn.exec_driver_sql("DELETE FROM members")
        conn.exec_driver_sql("DELETE FROM card_links")
    import_members(uow, OLD, clock, [(2, {"user_id": "1001", "handle": "alice", "card_number": ALICE_CARD}),
                                     (3, {"user_id": "1002", "handle": "bob", "card_number": BOB_CARD})])
    report = import_members(uow, NEW, clock, [(2, {"user_id": "1002", "handle": "bob",
                                                   "card_number": BOB_CARD})], previous=OLD)
    assert (report.linked, report.rekeyed) == (1, 1)
    assert key_use(uow, NEW.check, OLD.check).members == {NEW.check.key_id: 1, OLD.check.key_id: 1}
    deps = ReconcileDeps(uow, NEW, clock, ledger.exports, UTC,
                         locks_for(engine, "tests:2", clock, timedelta(minutes=5)),
                         previous_fingerprinter=OLD)

    summary = reconcile_file(deps, ledger.catalog, make_csv(
        "day.csv", tx_row("T1", ALICE_CARD), tx_row("T2", BOB_CARD, "MID-FDX-0001", "30.00"),
        tx_row("T3", CAROL_CARD)))

    assert credits_in_db(engine) == [("T1", "amex-mcdonalds", "credit", 500),
                                     ("T2", "amex-fedex", "credit", 500)]
    assert summary.not_linked == 1


def test_rekeying_keeps_the_link_and_the_day_it_began(uow, clock):
    """Moving a member to the new key is not a new link: its start date (what it covers) stays."""
    link_member(uow, OLD, clock, "1001", "alice", ALICE_CARD)
    linked_at = clock()
    clock.advance(days=3)

    link_member(uow, NEW, clock, "1001", "alice", ALICE_CARD, previous=OLD)

    with uow(readonly=True) as tx:
        [link] = tx.members.links_of("1001")
        member = tx.members.get("1001")
    assert (link.linked_at, link.unlinked_at, link.key_id) == (linked_at, None, NEW.check.key_id)
    assert member is not None
    assert member.card == NEW.card_ref(ALICE_CARD)


def test_a_card_linked_under_the_old_key_is_still_refused_to_another_member(uow, clock):
    """During a rotation a card's owner is found under either key, so it cannot silently change hands."""
    link_member(uow, OLD, clock, "1001", "alice", ALICE_CARD)

    with pytest.raises(MemberError, match="already linked to X user id 1001"):
        link_member(uow, NEW, clock, "2002", "mallory", ALICE_CARD, previous=OLD)
