"""Member sync: link, import, unlink; only a fingerprint and last 4 digits are kept."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.members import LinkEnd
from bot.errors import MemberError
from bot.services.members import import_members, link_member, unlink_member
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD


def rows(*lines: tuple[str, str, str]) -> list[tuple[int, dict[str, str]]]:
    return [(n, {"user_id": u, "handle": h, "card_number": c}) for n, (u, h, c) in enumerate(lines, start=2)]


def test_linking_keeps_the_fingerprint_and_last_four_only(uow, fingerprinter, clock):
    """A linked member has the card's keyed fingerprint and last 4 digits, nothing more."""
    card = link_member(uow, fingerprinter, clock, "1001", "@alice", "3782 822463 10005")

    with uow(readonly=True) as tx:
        member = tx.members.get("1001")
    assert member is not None
    assert member.handle == "alice"
    assert member.card == card
    assert card.last4 == "0005"
    assert card.fingerprint == fingerprinter.fingerprint(ALICE_CARD)


def test_relinking_replaces_the_card_and_handle(uow, fingerprinter, clock):
    """Linking the same account again replaces its card (one card per account)."""
    link_member(uow, fingerprinter, clock, "1001", "alice", ALICE_CARD)
    link_member(uow, fingerprinter, clock, "1001", "alice_new", BOB_CARD)

    with uow(readonly=True) as tx:
        member = tx.members.get("1001")
    assert member is not None
    assert (member.handle, member.card.last4 if member.card else None) == ("alice_new", "8431")


def test_a_card_linked_to_another_account_is_refused(uow, fingerprinter, clock):
    """The same card cannot silently move to a second X account."""
    link_member(uow, fingerprinter, clock, "1001", "alice", ALICE_CARD)

    with pytest.raises(MemberError, match="already linked to X user id 1001") as info:
        link_member(uow, fingerprinter, clock, "2002", "mallory", ALICE_CARD)
    assert ALICE_CARD not in str(info.value)


@pytest.mark.parametrize(("user_id", "handle", "card", "expected"), [
    ("alice", "alice", ALICE_CARD, "not numeric"),
    ("1001", "not a handle", ALICE_CARD, "not an X handle"),
    ("1001", "alice", "378282246310006", "Luhn"),
    ("1001", "alice", "3782-8224-x", "only digits"),
])
def test_bad_input_is_refused_with_a_reason_that_never_shows_the_card(
        uow, fingerprinter, clock, user_id, handle, card, expected):
    """Each bad field gets its own message; the card number never appears in it."""
    with pytest.raises(MemberError, match=expected) as info:
        link_member(uow, fingerprinter, clock, user_id, handle, card)
    assert card.replace("-", "") not in str(info.value)


def test_import_links_good_rows_and_reports_bad_ones_by_line(uow, fingerprinter, clock):
    """Bad rows are reported with line and column; every good row is still linked."""
    report = import_members(uow, fingerprinter, clock, rows(
        ("1001", "alice", ALICE_CARD),
        ("1002", "bob", "4111"),
        ("x", "carol", CAROL_CARD),
        ("1003", "carol", CAROL_CARD),
        ("1003", "carol2", BOB_CARD),
        ("1004", "dave", CAROL_CARD),
    ))

    assert report.linked == 2
    assert [(p.line, p.column) for p in report.problems] == [
        (3, "card_number"), (4, "user_id"), (6, "user_id"), (7, "card_number")]
    assert "also on line 5" in report.problems[3].reason


def test_importing_the_same_file_again_changes_nothing(uow, fingerprinter, clock):
    """A re-import is idempotent: every row is 'unchanged'."""
    lines = rows(("1001", "alice", ALICE_CARD), ("1002", "bob", BOB_CARD))
    import_members(uow, fingerprinter, clock, lines)

    again = import_members(uow, fingerprinter, clock, lines)

    assert (again.linked, again.unchanged, again.problems) == (0, 2, [])


def test_unlink_forgets_the_card_and_cancels_pending_replies(uow, fingerprinter, clock, members):
    """Unlinking keeps the account row but drops its card; a second unlink says there was none."""
    assert unlink_member(uow, clock, "1001") is True
    assert unlink_member(uow, clock, "1001") is False

    with uow(readonly=True) as tx:
        member = tx.members.get("1001")
        assert tx.members.linked_count() == 2
    assert member is not None
    assert member.card is None


def test_unlinking_a_bad_user_id_is_a_member_error(uow, clock):
    """A handle where a numeric id is expected is explained, not a crash."""
    with pytest.raises(MemberError, match="not numeric"):
        unlink_member(uow, clock, "@alice")


def stop(uow, clock, user_id: str) -> None:
    """What the bot does on '@offerbot STOP' from ``user_id`` (see services.intake)."""
    with uow() as tx:
        tx.members.opt_out(user_id, None, clock())
        tx.members.unlink(user_id, clock(), ended_by=LinkEnd.STOP)
        tx.commit()


def test_an_import_skips_a_member_who_sent_stop_and_says_when(uow, fingerprinter, clock):
    """A routine import never undoes STOP: the row is skipped (not an error) with the opt-out's date."""
    lines = rows(("1001", "alice", ALICE_CARD), ("1002", "bob", BOB_CARD))
    import_members(uow, fingerprinter, clock, lines)
    stop(uow, clock, "1001")
    clock.advance(days=2)

    again = import_members(uow, fingerprinter, clock, lines)

    assert (again.linked, again.unchanged, again.problems) == (0, 1, [])
    assert [str(s) for s in again.skipped] == ["line 2: opted out on 2026-11-23, skipped"]
    assert again.describe() == "0 linked, 1 unchanged, 0 rejected, 1 opted out (skipped)"
    with uow(readonly=True) as tx:
        alice = tx.members.get("1001")
    assert alice is not None
    assert not alice.linked


def test_only_a_renewed_consent_links_an_opted_out_member_again(uow, fingerprinter, clock):
    """Without the flag a link is refused, naming it; with it the member is linked, the opt-out cleared."""
    link_member(uow, fingerprinter, clock, "1001", "alice", ALICE_CARD)
    stop(uow, clock, "1001")

    with pytest.raises(MemberError, match=r"opted out \(STOP\) on 2026-11-23.*--renewed-consent"):
        link_member(uow, fingerprinter, clock, "1001", "alice", ALICE_CARD)
    link_member(uow, fingerprinter, clock, "1001", "alice", ALICE_CARD, renewed_consent=True)

    with uow(readonly=True) as tx:
        alice = tx.members.get("1001")
    assert alice is not None
    assert alice.linked
    assert alice.opted_out_at is None
    assert import_members(uow, fingerprinter, clock, rows(("1001", "alice", ALICE_CARD))).unchanged == 1


def test_sync_remove_is_not_an_opt_out(uow, fingerprinter, clock, members):
    """An ops removal leaves no opt-out: the next import links the member again."""
    unlink_member(uow, clock, "1001")

    report = import_members(uow, fingerprinter, clock, rows(("1001", "alice", ALICE_CARD)))

    assert (report.linked, report.skipped) == (1, [])


def test_the_opt_out_date_is_read_in_the_bots_time_zone(uow, fingerprinter, clock):
    """A STOP late on Nov 23 in New York is reported as Nov 23 there, not Nov 24 (UTC)."""
    from zoneinfo import ZoneInfo

    link_member(uow, fingerprinter, clock, "1001", "alice", ALICE_CARD)
    clock.now = clock.now.replace(hour=3) + timedelta(days=1)  # Nov 24 03:00 UTC, Nov 23 in New York
    stop(uow, clock, "1001")

    report = import_members(uow, fingerprinter, clock, rows(("1001", "alice", ALICE_CARD)),
                            tz=ZoneInfo("America/New_York"))

    assert [s.day for s in report.skipped] == ["2026-11-23"]
