"""Card link history: STOP keeps credits already earned; a purchase counts for whoever had the card
linked on its date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from bot.adapters.locks import locks_for
from bot.adapters.sql.engine import make_engine
from bot.adapters.sql.unit_of_work import unit_of_work_factory
from bot.domain.cards import CardRef
from bot.domain.members import LinkEnd, NewLink
from bot.services.campaigns import Catalog
from bot.services.explain import explain
from bot.services.file_scan import Interest
from bot.services.intake import poll_mentions
from bot.services.members import link_member, unlink_member
from bot.services.notices import queue_credit_notices
from bot.services.reconciliation import ReconcileDeps, reconcile_file
from bot.services.replies import send_replies
from tests.conftest import HEADER, POSTGRES_URL, empty_postgres, examples
from tests.fakes import (
    ALICE_CARD,
    BOB_CARD,
    BOT_ID,
    FakeSocialApi,
    FixedClock,
    campaign,
    credits_in_db,
    mention,
    tx_row,
)

MCD = campaign(per_member=5)  # McDonald's, $5 back on $5, from Nov 1: several credits per member


def at(day: int, hour: int = 12) -> datetime:
    """Noon (or ``hour``) UTC on a day of November 2026."""
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.fixture
def bank(uow, fingerprinter, engine, tmp_path):
    """McDonald's (5 credits a member) and a clock at Nov 19; returns a namespace of helpers."""
    clock = FixedClock(at(19))
    catalog = Catalog((MCD,))
    with uow() as tx:
        tx.campaigns.sync([MCD], clock())
        tx.commit()
    api = FakeSocialApi()
    deps = ReconcileDeps(uow, fingerprinter, clock, tmp_path / "exports", UTC,
                         locks_for(engine, "tests:1", clock, timedelta(minutes=5)))
    posts = iter(range(5001, 6000))
    files = iter(range(1, 100))

    def on(day: int) -> None:
        clock.now = at(day)

    def post(author: str, text: str) -> None:
        api.post(mention(next(posts), author, text, at=clock()))
        poll_mentions(uow, api, catalog, clock, bot_user_id=BOT_ID)

    def reconcile(*rows: str):
        path = tmp_path / f"day{next(files)}.csv"
        path.write_text("\n".join((HEADER, *rows)) + "\n")
        return reconcile_file(deps, catalog, path)

    def link(user_id: str, handle: str, card: str, **kwargs) -> None:
        link_member(uow, fingerprinter, clock, user_id, handle, card, **kwargs)

    return SimpleNamespace(clock=clock, catalog=catalog, api=api, on=on, post=post, reconcile=reconcile,
                           link=link)


def test_stop_keeps_the_credit_of_a_purchase_made_while_linked(bank, engine):
    """Enrolled, bought on Nov 21, STOP on Nov 23, file on Nov 24: the purchase is credited; one made on
    Nov 24 is not linked; after a renewed consent on Nov 26 a purchase on Nov 27 is credited again."""
    bank.link("1001", "alice", ALICE_CARD)
    bank.on(20)
    bank.post("1001", "@offerbot #AmexMcDonalds")
    bank.on(23)
    bank.post("1001", "@offerbot STOP")
    bank.on(24)

    first = bank.reconcile(tx_row("T1", day="2026-11-21"), tx_row("T2", day="2026-11-24"))

    assert credits_in_db(engine) == [("T1", "amex-mcdonalds", "credit", 500)]
    assert first.not_linked == 1
    bank.on(26)
    bank.link("1001", "alice", ALICE_CARD, renewed_consent=True)
    bank.on(28)
    second = bank.reconcile(tx_row("T3", day="2026-11-27"), tx_row("T4", day="2026-11-25"))
    assert [c[0] for c in credits_in_db(engine)] == ["T1", "T3"]
    assert second.not_linked == 1  # Nov 25: between the STOP and the new consent


def test_explain_says_when_the_member_unlinked_and_credits_what_was_bought_before(bank, uow):
    """explain lists the link with 'unlinked on 2026-11-23 (STOP)', and the verdict is the credit."""
    bank.link("1001", "alice", ALICE_CARD)
    bank.on(20)
    bank.post("1001", "@offerbot #AmexMcDonalds")
    bank.on(23)
    bank.post("1001", "@offerbot STOP")
    bank.on(24)
    bank.reconcile(tx_row("T1", day="2026-11-21"))

    report = explain(uow, bank.catalog, "1001", "amex-mcdonalds")

    assert report.link_lines() == ["card ending 0005, linked 2026-11-19, unlinked on 2026-11-23 (STOP)"]
    assert report.verdict() == "credited $5.00 net"


def test_explain_names_the_unlink_when_no_purchase_was_seen_while_linked(bank, uow):
    """A purchase after STOP is not matched; explain says the member unlinked, and when."""
    bank.link("1001", "alice", ALICE_CARD)
    bank.on(20)
    bank.post("1001", "@offerbot #AmexMcDonalds")
    bank.on(23)
    bank.post("1001", "@offerbot STOP")
    bank.on(25)
    bank.reconcile(tx_row("T1", day="2026-11-24"))

    verdict = explain(uow, bank.catalog, "1001", "amex-mcdonalds").verdict()

    assert verdict == ("enrolled, but no purchase at this merchant made while the card was linked has "
                       "been seen in a transaction file; unlinked on 2026-11-23 (STOP)")


def test_a_refund_after_stop_still_claws_back_the_credit_earned_while_linked(bank, engine):
    """The member keeps a credit earned while linked, not one for a purchase they returned later."""
    bank.link("1001", "alice", ALICE_CARD)
    bank.on(20)
    bank.post("1001", "@offerbot #AmexMcDonalds")
    bank.on(22)
    bank.reconcile(tx_row("T1", day="2026-11-21"))
    bank.on(23)
    bank.post("1001", "@offerbot STOP")
    bank.on(26)

    bank.reconcile(tx_row("R1", day="2026-11-25", kind="refund", original="T1"))

    assert credits_in_db(engine) == [("T1", "amex-mcdonalds", "credit", 500),
                                     ("R1", "amex-mcdonalds", "clawback", -500)]


def test_a_card_that_changed_hands_credits_each_owner_for_their_own_days(bank, engine, uow):
    """Removed from Alice on Nov 22 and linked to Dave on Nov 24, a card's purchases go to whoever
    had it linked on the purchase's date."""
    bank.link("1001", "alice", ALICE_CARD)
    bank.on(20)
    bank.post("1001", "@offerbot #AmexMcDonalds")
    bank.on(22)
    unlink_member(uow, bank.clock, "1001")
    bank.on(24)
    bank.link("1004", "dave", ALICE_CARD)
    bank.post("1004", "@offerbot #AmexMcDonalds")
    bank.on(27)

    summary = bank.reconcile(tx_row("T1", day="2026-11-21"), tx_row("T2", day="2026-11-23"),
                             tx_row("T3", day="2026-11-25"))

    with engine.connect() as conn:
        credited = conn.exec_driver_sql("SELECT transaction_id, member_id FROM credits ORDER BY seq").all()
    assert [tuple(r) for r in credited] == [("T1", "1001"), ("T3", "1004")]
    assert summary.not_linked == 1


def test_a_replaced_card_still_counts_for_the_days_it_was_linked(bank, engine):
    """Alice swaps card A for card B on Nov 22: a purchase with A on Nov 21 is hers; one on Nov 23 is not."""
    bank.link("1001", "alice", ALICE_CARD)
    bank.on(20)
    bank.post("1001", "@offerbot #AmexMcDonalds")
    bank.on(22)
    bank.link("1001", "alice", BOB_CARD)
    bank.on(25)

    bank.reconcile(tx_row("T1", day="2026-11-21"), tx_row("T2", day="2026-11-23"),
                   tx_row("T3", BOB_CARD, day="2026-11-24"))

    assert [c[0] for c in credits_in_db(engine)] == ["T1", "T3"]


def test_a_handle_change_does_not_start_a_new_link(bank, uow):
    """Re-importing a member under a new handle keeps their link and the day it began."""
    bank.link("1001", "alice", ALICE_CARD)
    bank.on(22)
    bank.link("1001", "alice_new", ALICE_CARD)

    with uow(readonly=True) as tx:
        links = tx.members.links_of("1001")
        member = tx.members.get("1001")
    assert [(link.linked_at, link.unlinked_at) for link in links] == [(at(19), None)]
    assert member is not None
    assert member.handle == "alice_new"


def test_credit_notices_to_a_member_who_sent_stop_are_not_sent(bank, engine, uow, renderer):
    """The credit is kept, but a member who sent STOP hears nothing more from the bot (but the one
    confirmation of the opt-out)."""
    bank.link("1001", "alice", ALICE_CARD)
    bank.on(20)
    bank.post("1001", "@offerbot #AmexMcDonalds")
    send_replies(uow, bank.api, renderer, bank.clock)
    bank.on(23)
    bank.post("1001", "@offerbot STOP")
    bank.on(24)
    bank.reconcile(tx_row("T1", day="2026-11-21"))
    queue_credit_notices(uow, bank.catalog, bank.clock)
    send_replies(uow, bank.api, renderer, bank.clock)

    assert bank.api.dms == []
    assert [text.startswith("You're unsubscribed") for text, _, _ in bank.api.replies] == [False, True]
    with engine.connect() as conn:
        [(status,)] = conn.execute(text("SELECT status FROM outbox WHERE dedupe_key LIKE 'credit:%'")).all()
    assert status == "cancelled"


def test_links_record_how_each_one_ended(bank, uow):
    """Replacing a card, `sync remove` and STOP each end the current link with their own reason."""
    bank.link("1001", "alice", ALICE_CARD)
    bank.on(20)
    bank.link("1001", "alice", BOB_CARD)
    bank.on(21)
    unlink_member(uow, bank.clock, "1001")
    bank.on(22)
    bank.link("1001", "alice", ALICE_CARD)
    bank.on(23)
    bank.post("1001", "@offerbot STOP")

    with uow(readonly=True) as tx:
        links = tx.members.links_of("1001")
    assert [(link.last4, link.linked_at.day, link.unlinked_at and link.unlinked_at.day, link.ended_by)
            for link in links] == [("0005", 19, 20, LinkEnd.REPLACED), ("8431", 20, 21, LinkEnd.REMOVED),
                                   ("0005", 22, 23, LinkEnd.STOP)]


# The fast path (one look-up for a card with one link and no history) against the rule itself.

EVENTS = st.lists(st.tuples(st.sampled_from(["link", "unlink", "stop"]), st.sampled_from(["1", "2", "3"]),
                            st.sampled_from(["A", "B", "C"]), st.integers(0, 3)), max_size=12)
CARDS = {"A": CardRef("fp-a", "000A"), "B": CardRef("fp-b", "000B"), "C": CardRef("fp-c", "000C")}


def reference_owner(links: list[tuple[str, str, date, date | None]], card: str, day: date,
                    kind: str) -> str | None:
    """The rule, stated plainly over every link (member, card, first day, last day) ever made."""
    mine = [link for link in links if link[1] == card]
    if len(mine) == 1 and mine[0][3] is None:  # linked once, never unlinked: whatever the date
        return mine[0][0]
    latest_first = list(reversed(mine))
    for member, _, first, last in latest_first:
        if first <= day and (last is None or day <= last):
            return member
    if kind == "refund":
        for member, _, first, _ in latest_first:
            if first <= day:
                return member
    return None


@settings(max_examples=examples(60), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS, day=st.integers(0, 6), kind=st.sampled_from(["purchase", "refund"]))
def test_the_card_index_matches_the_rule_over_the_whole_history(engine, events, day, kind):
    """Whatever links, replacements, removals and STOPs happened, the scanner's card index (fast map
    plus history) names the owner the rule over the full history names."""
    if POSTGRES_URL:
        empty_postgres(engine)
    else:
        with engine.begin() as conn:
            for table in ("card_links", "members"):
                conn.exec_driver_sql(f"DELETE FROM {table}")
    uow = unit_of_work_factory(engine)
    start = date(2026, 11, 20)
    links: list[tuple[str, str, date, date | None]] = []  # the model: every link ever made
    holder: dict[str, tuple[str, int]] = {}  # member -> (card, index in links) while linked
    for action, member, card, offset in events:
        start += timedelta(days=offset)
        now = datetime(start.year, start.month, start.day, 12, tzinfo=UTC)
        with uow() as tx:
            if action == "link":
                owner = tx.members.card_owners([CARDS[card].fingerprint]).get(CARDS[card].fingerprint)
                if owner not in (None, member) or holder.get(member, ("",))[0] == card:
                    continue  # refused (another member's card) or unchanged
                tx.members.link_many([NewLink(member, f"m{member}", CARDS[card])], now)
                if member in holder:
                    _, index = holder[member]
                    links[index] = (*links[index][:3], start)
                holder[member] = (card, len(links))
                links.append((member, card, start, None))
            elif member in holder:
                ended = LinkEnd.STOP if action == "stop" else LinkEnd.REMOVED
                tx.members.unlink(member, now, ended_by=ended)
                _, index = holder.pop(member)
                links[index] = (*links[index][:3], start)
            tx.commit()
    with uow(readonly=True) as tx:
        members, history = tx.members.card_index(UTC)
    interest = Interest({}, members, history)
    asked = date(2026, 11, 20) + timedelta(days=day)
    for card, ref in CARDS.items():
        expected = reference_owner(links, card, asked, kind)
        # as the scan asks: the fast map of current links, then the history
        owner = interest.members.get(ref.fingerprint) or interest.owner(ref.fingerprint, "", asked, kind)
        assert owner == expected


@pytest.fixture
def old_database(tmp_path):
    """An empty database of its own, SQLite or (when the suite runs there) PostgreSQL, at revision 0002."""
    from bot.adapters.migrations import upgrade

    if not POSTGRES_URL:
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        upgrade(engine, "0002")
        yield engine
        engine.dispose()
        return
    base, name = str(POSTGRES_URL).rsplit("/", 1)
    admin = make_engine(f"{base}/postgres")
    scratch = f"{name}_migration"  # beside the suite's database, which stays at head
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{scratch}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{scratch}"')
    engine = make_engine(f"{base}/{scratch}")
    try:
        upgrade(engine, "0002")
        yield engine
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{scratch}"')
        admin.dispose()


def test_the_migration_backfills_current_links_and_opt_outs(old_database):
    """Upgrading keeps every member: each linked one gets a current link from the earlier of its link
    time and first enrolment; an unlinked one whose last STOP came after its link is opted out."""
    from bot.adapters.migrations import upgrade

    engine = old_database
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO campaigns (id, hashtag, merchant, enrolled, spent_cents, updated_at) "
            "VALUES ('amex-mcdonalds', '#AmexMcDonalds', 'McDonald''s', 1, 0, '2026-11-01 00:00:00.000000')")
        conn.exec_driver_sql(
            "INSERT INTO members (user_id, handle, card_fingerprint, card_last4, linked_at, unlinked_at) "
            "VALUES "
            "('1001', 'alice', 'fp-a', '0005', '2026-11-23 12:00:00.000000', NULL), "
            "('1002', 'bob', 'fp-b', '8431', '2026-11-21 09:00:00.000000', NULL), "
            "('1003', 'carol', NULL, NULL, '2026-11-19 12:00:00.000000', '2026-11-22 08:00:00.000000'), "
            "('1004', 'dave', NULL, NULL, '2026-11-19 12:00:00.000000', '2026-11-22 08:00:00.000000'), "
            "('1005', 'erin', NULL, NULL, '2026-11-24 12:00:00.000000', '2026-11-25 08:00:00.000000')")
        conn.exec_driver_sql(
            "INSERT INTO enrolments (member_id, campaign_id, post_id, enrolled_at) VALUES "
            "('1001', 'amex-mcdonalds', '5001', '2026-11-20 10:00:00.000000')")
        conn.exec_driver_sql(
            "INSERT INTO posts (post_id, author_id, processed_at, outcome) VALUES "
            "('5002', '1003', '2026-11-22 08:00:00.000000', 'stop: unlinked'), "
            "('5003', '1005', '2026-11-20 08:00:00.000000', 'stop: not linked')")

    upgrade(engine)

    uow = unit_of_work_factory(engine)
    with uow(readonly=True) as tx:
        links = {m: tx.members.links_of(m) for m in ("1001", "1002", "1003")}
        members = tx.members.get_many(["1001", "1002", "1003", "1004", "1005"])
    assert [(link.linked_at, link.unlinked_at, link.key_id) for link in links["1001"]] == [
        (datetime(2026, 11, 20, 10, tzinfo=UTC), None, None)]
    assert [link.linked_at for link in links["1002"]] == [datetime(2026, 11, 21, 9, tzinfo=UTC)]
    assert links["1003"] == []
    assert {m: member.opted_out_at for m, member in members.items()} == {
        "1001": None, "1002": None, "1003": datetime(2026, 11, 22, 8, tzinfo=UTC), "1004": None,
        "1005": None}  # erin's STOP came before she was linked again, by then removed by ops
    assert members["1001"].card == CardRef("fp-a", "0005")
