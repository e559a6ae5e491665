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
        assert len(tx.members.fingerprint_index()) == 2
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


# A bad row placed at line 3 (the first batch) and at line 1,500 (a later one), with Alice (1001)
# linked to ALICE_CARD and Bob (1002) opted out: (the rows on top of the file, the rows just above
# the bad one, which it may name, the row itself).
BAD_ROWS = {
    "bad card": ([], [], "2001,dora,4111"),
    "not a numeric id": ([], [], "dora,dora,{card}"),
    "not a handle": ([], [], "2001,no handle,{card}"),
    "user id twice": ([], ["2001,dora,{card}"], "2001,dora2,{other}"),
    "card twice": ([], ["2001,dora,{card}"], "2002,erin,{card}"),
    "unreadable row": ([], [], '2001,"dora"x,{card}'),
    "card of another account": ([], [], f"2001,dora,{ALICE_CARD}"),
    "card moved off its account by this import": (
        [f"1001,alice,{CAROL_CARD}"], [], f"2001,dora,{ALICE_CARD}"),
    "opted out": ([], [], f"1002,bob,{BOB_CARD}"),
}


def member_file(path, at: int, rows: tuple[list[str], list[str], str]):
    """Write a member file of good generated rows around ``rows`` (on top, then just above and on
    line ``at``; data starts on line 2)."""
    from tests.fakes import card_number

    top, above, bad = rows
    fill = {"card": card_number(9_000), "other": card_number(9_001)}
    lines = [row.format(**fill) for row in top]
    lines += [f"{10_000 + n},h{n},{card_number(n)}" for n in range(at - 2 - len(top) - len(above))]
    lines += [row.format(**fill) for row in [*above, bad]]
    lines += [f"{20_000 + n},k{n},{card_number(5_000 + n)}" for n in range(10)]
    path.write_text("user_id,handle,card_number\n" + "\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("kind", BAD_ROWS)
def test_a_bad_row_is_reported_the_same_way_at_line_3_and_at_line_1500(fingerprinter, clock, tmp_path, kind):
    """Whatever is wrong with a row, it gets the same FILE:line N: message, with the line it names,
    on line 3 as on line 1,500 (past the first batch): the same verdict and the same wording."""
    import re

    from bot.services.members import import_member_file
    from tests.fakes import FakeStore

    top, above, _ = BAD_ROWS[kind]
    said = {}
    for at in (3 + len(top) + len(above), 1500):
        uow = FakeStore()  # each import starts from the same links
        link_member(uow, fingerprinter, clock, "1001", "alice", ALICE_CARD)
        link_member(uow, fingerprinter, clock, "1002", "bob", BOB_CARD)
        stop(uow, clock, "1002")
        path = member_file(tmp_path / f"members-{at}.csv", at, BAD_ROWS[kind])
        report = import_member_file(uow, fingerprinter, clock, path)
        lines = [line.replace(str(path), "FILE") for line in report.lines(path)]
        said[at] = [re.sub(rf"\bline {at - 1}\b", "line N-1", re.sub(rf"\bline {at}\b", "line N", line))
                    for line in lines]

    first, later = said.values()
    assert len(first) == 1, first
    assert first == later
    assert first[0].startswith("FILE:line N: ")


@pytest.mark.parametrize("failure", [ConnectionError, KeyboardInterrupt])
def test_an_import_that_fails_part_way_says_what_it_kept(fingerprinter, clock, tmp_path, monkeypatch,
                                                         failure):
    """Should linking fail after earlier batches were committed (the database gone, Ctrl-C), the
    error says at which line the import stopped and how many rows above it are linked: never a
    silent half."""
    from bot.services.members import import_member_file
    from tests.fakes import FakeMembers, FakeStore

    path = member_file(tmp_path / "members.csv", 1500, ([], [], "2001,dora,{card}"))
    calls = []
    link_many = FakeMembers.link_many

    def fail_the_second_batch(self, links, now, *, key=None):
        calls.append(len(links))
        if len(calls) == 2:
            raise failure("the database went away")
        return link_many(self, links, now, key=key)

    monkeypatch.setattr(FakeMembers, "link_many", fail_the_second_batch)
    with pytest.raises(failure) as info:
        import_member_file(FakeStore(), fingerprinter, clock, path)

    assert info.value.__notes__ == [
        "the member import stopped at line 1002; the 1000 rows linked above it are kept: import the "
        "file again to finish (they then count as unchanged)"]
