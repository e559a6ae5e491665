"""Polling mentions: enrolments, replies and the cursor, exactly once."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from bot.errors import TransientApiError
from bot.ports import UnitOfWorkFactory
from bot.services.campaigns import Catalog
from bot.services.intake import poll_mentions
from tests.fakes import BOT_ID, FakeCampaigns, FakeSocialApi, FakeStore, FixedClock, campaign, mention


def poll(uow: UnitOfWorkFactory, api: FakeSocialApi, catalog: Catalog, clock: FixedClock, **kwargs):
    return poll_mentions(uow, api, catalog, clock, bot_user_id=BOT_ID, **kwargs)


def enrolments(uow: UnitOfWorkFactory) -> set[tuple[str, str]]:
    with uow(readonly=True) as tx:
        found = tx.enrolments.campaigns_of(["1001", "1002", "1003", "4242"])
    return {(member, c) for member, cs in found.items() for c in cs}


def outbox(store: FakeStore) -> list[tuple[str, str, dict]]:
    """The outbox as (dedupe key, in reply to, context), in the order queued."""
    rows = [(r.dedupe_key, r.in_reply_to, r.context) for r in store.outbox_rows()]
    return [(key, to, json.loads(ctx)) for key, to, ctx in rows]


@pytest.fixture
def setup(uow, api, catalog, clock, members):
    return uow, api, catalog, clock


def test_linked_member_is_enrolled_and_gets_one_reply(setup, store):
    """A linked member's '@bot #AmexMcDonalds' enrols them and queues one reply to that post."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"))

    report = poll(uow, api, catalog, clock)

    assert enrolments(uow) == {("1001", "amex-mcdonalds")}
    [(key, to, context)] = outbox(store)
    assert (key, to) == ("post:1", "1")
    assert [c["hashtag"] for c in context["enrolled"]] == ["#AmexMcDonalds"]
    assert report.outcomes == {"enrolled": 1}
    assert report.cursor == "1"


def test_unlinked_author_is_recorded_but_never_answered(setup, store):
    """A post from an account with no linked card enrols nobody and queues no reply (X's rules)."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "4242", "@offerbot #AmexMcDonalds"))

    report = poll(uow, api, catalog, clock)

    assert enrolments(uow) == set()
    assert outbox(store) == []
    assert report.outcomes == {"not linked": 1}
    assert report.handled == 1


def test_a_post_naming_two_campaigns_enrols_in_both_with_one_reply(setup, store):
    """Two campaign hashtags in one post give two enrolments and a single reply naming both."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1002", "@offerbot #AmexFedEx and #amexzappos please"))

    poll(uow, api, catalog, clock)

    assert enrolments(uow) == {("1002", "amex-fedex"), ("1002", "amex-zappos")}
    [(_, _, context)] = outbox(store)
    assert [c["hashtag"] for c in context["enrolled"]] == ["#AmexFedEx", "#AmexZappos"]


def test_posting_again_says_already_enrolled_without_a_second_enrolment(setup, store):
    """A second post for the same campaign enrols nothing new and is answered 'already enrolled'."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"), mention(2, "1001", "@offerbot #AmexMcDonalds"))

    report = poll(uow, api, catalog, clock)

    assert enrolments(uow) == {("1001", "amex-mcdonalds")}
    assert report.outcomes == {"enrolled": 1, "already enrolled": 1}
    replies = outbox(store)
    assert [key for key, _, _ in replies] == ["post:1", "post:2"]
    assert replies[1][2]["already_enrolled"][0]["hashtag"] == "#AmexMcDonalds"


def test_polling_again_handles_nothing_twice(setup, store):
    """A second poll with the same posts visible changes nothing: no enrolment, no reply."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"))
    poll(uow, api, catalog, clock)

    second = poll(uow, api, catalog, clock)

    assert second.handled == 0
    assert api.since_ids == [None, "1"]
    assert len(outbox(store)) == 1


def test_a_page_served_twice_is_handled_once(setup, store):
    """Posts X serves again (an old since_id, a retried page) are recognised by id and skipped."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"))
    poll(uow, api, catalog, clock)
    with uow() as tx:
        tx.cursors.set("mentions", "0", clock())
        tx.commit()

    again = poll(uow, api, catalog, clock)

    assert (again.handled, again.already_handled) == (0, 1)
    assert len(outbox(store)) == 1


def test_retweets_and_the_bots_own_posts_are_ignored(setup, store):
    """Retweets and posts by the bot itself neither enrol nor draw a reply."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "RT @bob: @offerbot #AmexMcDonalds", retweet=True),
             mention(2, BOT_ID, "@alice #AmexMcDonalds"))

    report = poll(uow, api, catalog, clock)

    assert report.ignored == 2
    assert enrolments(uow) == set()
    assert outbox(store) == []


def test_limited_quantity_goes_to_the_earliest_posts_across_pages(uow, api, clock, members, store):
    """With 2 places and 3 posts over 2 pages, the two oldest posts enrol; the third is sold out."""
    limited = campaign(id="limited", hashtag="#AmexLimited", max_enrolments=2)
    with uow() as tx:
        tx.campaigns.sync([limited], clock())
        tx.commit()
    api.page_size = 2
    api.post(mention(10, "1001", "@offerbot #AmexLimited"), mention(11, "1002", "@offerbot #AmexLimited"),
             mention(12, "1003", "@offerbot #AmexLimited"))

    report = poll(uow, api, Catalog((limited,)), clock)

    assert enrolments(uow) == {("1001", "limited"), ("1002", "limited")}
    assert report.outcomes == {"enrolled": 2, "sold out": 1}
    assert outbox(store)[-1][2]["sold_out"][0]["hashtag"] == "#AmexLimited"
    with uow(readonly=True) as tx:
        assert tx.campaigns.enrolment_counts()["limited"] == 2


def test_campaign_window_is_judged_at_the_posts_time(uow, api, clock, members, store):
    """A post made before the window opened is 'not started' even if handled later; after it ends, 'ended'."""
    early = campaign(id="early", hashtag="#AmexSoon", enrol_from=clock().date() + timedelta(days=3))
    late = campaign(id="late", hashtag="#AmexGone", enrol_from=clock().date() - timedelta(days=30),
                    enrol_until=clock().date() - timedelta(days=1))
    with uow() as tx:
        tx.campaigns.sync([early, late], clock())
        tx.commit()
    api.post(mention(1, "1001", "@offerbot #AmexSoon #AmexGone"))

    report = poll(uow, api, Catalog((early, late)), clock)

    assert report.outcomes == {"not started": 1, "ended": 1}
    [(_, _, context)] = outbox(store)
    assert [c["id"] for c in context["not_started"]] == ["early"]
    assert [c["id"] for c in context["ended"]] == ["late"]


def test_a_spent_budget_closes_enrolment_with_its_own_reply(uow, api, clock, members, store):
    """Once reconciliation has spent a budget, a new member is told so and is not enrolled."""
    budgeted = campaign(id="budgeted", hashtag="#AmexBudget", budget=Decimal("100.00"))
    with uow() as tx:
        tx.campaigns.sync([budgeted], clock())
        assert tx.campaigns.add_spent({"budgeted": 9_600}) == []  # $4 left: a $5 credit cannot fit
        tx.commit()
    api.post(mention(1, "1001", "@offerbot #AmexBudget"))

    report = poll(uow, api, Catalog((budgeted,)), clock)

    assert enrolments(uow) == set()
    assert report.outcomes == {"budget spent": 1}
    [(_, _, context)] = outbox(store)
    assert [c["id"] for c in context["budget_spent"]] == ["budgeted"]
    assert context["enrolled"] == []


def test_a_retired_campaign_enrols_nobody_and_says_it_has_ended(uow, api, clock, members, store):
    """A retired campaign's hashtag draws the retired reply and no enrolment."""
    retired = campaign(id="gone", hashtag="#AmexGone", retired=True)
    with uow() as tx:
        tx.campaigns.sync([retired], clock())
        tx.commit()
    api.post(mention(1, "1001", "@offerbot #AmexGone"), mention(2, "1002", "@offerbot #AmexGon"))

    report = poll(uow, api, Catalog((retired,)), clock)

    assert enrolments(uow) == set()
    assert report.outcomes == {"retired": 1, "unknown hashtag": 1}
    # A typo of a retired campaign is not worth a suggestion: it names no offer.
    [(_, _, context), (_, _, typo)] = outbox(store)
    assert [c["id"] for c in context["retired"]] == ["gone"]
    assert typo["suggestions"] == []
    assert [u["typed"] for u in typo["unknown"]] == ["#AmexGon"]


def test_a_mention_without_hashtags_is_recorded_and_not_answered(setup, store):
    """Chat such as '@offerbot thanks!' gets no reply."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot thanks!"))

    report = poll(uow, api, catalog, clock)

    assert report.handled == 1
    assert outbox(store) == []


def test_a_typo_hashtag_gets_a_suggestion_and_a_hashtag_like_no_offer_is_named(setup, store):
    """'#AmexMcDonals' draws 'did you mean #AmexMcDonalds'; '#FridayVibes' alone draws 'no offer called
    #FridayVibes' as typed (issue 11: it drew nothing before)."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot #AmexMcDonals"), mention(2, "1002", "@offerbot #FridayVibes"),
             mention(3, "1003", "@offerbot #AmexFedEx #yum"))

    poll(uow, api, catalog, clock)

    [(key, _, context), (key2, _, context2), (_, _, context3)] = outbox(store)
    assert (key, key2) == ("post:1", "post:2")
    assert context["suggestions"][0]["hashtag"] == "#AmexMcDonalds"
    assert context["suggestions"][0]["typed"] == "#AmexMcDonals"
    assert context2["unknown"] == [{"typed": "#FridayVibes"}]
    assert context3["unknown"] == []


def test_stop_unlinks_the_member_and_cancels_their_pending_replies(setup, store):
    """'@offerbot STOP' unlinks the author, cancels replies queued earlier and queues one confirmation."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"))
    poll(uow, api, catalog, clock)
    api.post(mention(2, "1001", "@offerbot STOP"))

    report = poll(uow, api, catalog, clock)

    assert report.unlinked == 1
    with uow(readonly=True) as tx:
        member = tx.members.get("1001")
        statuses = tx.outbox.counts()
    assert member is not None
    assert not member.linked
    assert statuses == {"cancelled": 1, "pending": 1}
    assert [(key, to) for key, to, _ in outbox(store)] == [("post:1", "1"), ("stop:2", "2")]


def test_stop_in_the_same_page_keeps_earlier_replies_from_being_queued(setup, store):
    """An enrolment and a STOP handled in one page leave only the STOP's confirmation for that member."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"), mention(2, "1001", "@offerbot STOP"),
             mention(3, "1002", "@offerbot #AmexMcDonalds"))

    poll(uow, api, catalog, clock)

    assert [key for key, _, _ in outbox(store)] == ["stop:2", "post:3"]


def test_after_stop_later_posts_are_not_answered(setup, store):
    """Once a member has sent STOP, their later posts enrol nothing and get no reply (nor a second STOP)."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot STOP"))
    poll(uow, api, catalog, clock)
    api.post(mention(2, "1001", "@offerbot #AmexMcDonalds"), mention(3, "1001", "@offerbot stop please"))

    report = poll(uow, api, catalog, clock)

    assert report.outcomes == {"not linked": 1}
    assert [key for key, _, _ in outbox(store)] == ["stop:1"]


def test_stop_records_the_opt_out_so_no_import_links_the_member_again(setup, fingerprinter):
    """STOP is kept on the member, linked or not (even an account never linked), for imports to honour."""
    from bot.services.members import import_members
    from tests.fakes import ALICE_CARD, card_number

    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot STOP"), mention(2, "4242", "@offerbot stop", handle="newbie"))

    poll(uow, api, catalog, clock)

    report = import_members(uow, fingerprinter, clock, [
        (2, {"user_id": "1001", "handle": "alice", "card_number": ALICE_CARD}),
        (3, {"user_id": "4242", "handle": "newbie", "card_number": card_number(4242)})])
    assert [(s.line, s.day) for s in report.skipped] == [(2, "2026-11-23"), (3, "2026-11-23")]
    assert report.linked == 0
    with uow(readonly=True) as tx:
        alice, newbie = tx.members.get("1001"), tx.members.get("4242")
    assert alice is not None
    assert not alice.linked
    assert newbie is not None
    assert newbie.linked_at is None


def test_each_batch_commits_with_its_cursor_so_a_crash_loses_and_repeats_nothing(
        setup, monkeypatch, store):
    """If the second batch fails, the first batch's work and cursor stay; a rerun does the rest."""
    uow, api, catalog, clock = setup
    api.page_size = 1
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"), mention(2, "1002", "@offerbot #AmexFedEx"))

    import bot.services.intake as intake

    real = intake._handle_posts
    calls = {"n": 0}

    def crash_on_second_page(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(intake, "_handle_posts", crash_on_second_page)
    with pytest.raises(RuntimeError):
        poll(uow, api, catalog, clock, batch_posts=1)
    assert enrolments(uow) == {("1001", "amex-mcdonalds")}
    with uow(readonly=True) as tx:
        assert tx.cursors.get("mentions") == "1"

    monkeypatch.setattr(intake, "_handle_posts", real)
    poll(uow, api, catalog, clock)

    assert enrolments(uow) == {("1001", "amex-mcdonalds"), ("1002", "amex-fedex")}
    assert [key for key, _, _ in outbox(store)] == ["post:1", "post:2"]


def test_an_api_failure_leaves_the_cursor_alone(setup):
    """When X fails mid-poll nothing is recorded, and the next poll asks from the same place."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"))
    api.mention_errors.append(TransientApiError("503"))

    with pytest.raises(TransientApiError):
        poll(uow, api, catalog, clock)
    poll(uow, api, catalog, clock)

    assert api.since_ids == [None, None]
    assert enrolments(uow) == {("1001", "amex-mcdonalds")}


def test_enrolment_time_is_when_the_member_posted(setup):
    """The enrolment's time is the post's created_at, which later decides which purchases count."""
    uow, api, catalog, clock = setup
    posted = clock() - timedelta(hours=5)
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds", at=posted))

    poll(uow, api, catalog, clock)

    with uow(readonly=True) as tx:
        enrolment = tx.enrolments.get("1001", "amex-mcdonalds")
    assert enrolment is not None
    assert enrolment.enrolled_at == posted


def test_pages_are_batched_into_transactions_with_the_newest_cursor(setup):
    """Several small pages commit together, the cursor at the newest post of the batch."""
    uow, api, catalog, clock = setup
    api.page_size = 2
    api.post(*(mention(n, "1001", "@offerbot #AmexMcDonalds") for n in range(1, 8)))

    report = poll(uow, api, catalog, clock, batch_posts=4)

    assert (report.pages, report.handled, report.cursor) == (4, 7, "7")
    assert report.outcomes == {"enrolled": 1, "already enrolled": 6}


@pytest.mark.parametrize("text", ["@offerbot please stop", "@offerbot STOP #AmexFedEx", "@offerbot #STOP",
                                  "@offerbot ＳＴＯＰ", "@offerbot stop messaging me"])
def test_an_opt_out_in_ordinary_words_unlinks_enrols_nothing_and_is_confirmed_once(setup, store, text):
    """Opt-outs in ordinary words (hashtags beside them too) unlink, enrol nothing, queue one confirmation."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1002", text))

    report = poll(uow, api, catalog, clock)

    assert report.unlinked == 1
    assert enrolments(uow) == set()
    [(key, to, _)] = outbox(store)
    assert (key, to) == ("stop:1", "1")
    with uow(readonly=True) as tx:
        member = tx.members.get("1002")
    assert member is not None
    assert not member.linked


def test_a_member_who_was_never_linked_gets_no_opt_out_confirmation(setup, store):
    """STOP from an account that is not linked is recorded and not answered (X's rules)."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "4242", "@offerbot STOP"))

    poll(uow, api, catalog, clock)

    assert outbox(store) == []


def test_a_post_made_before_the_campaign_opened_and_read_after_is_told_to_post_again(uow, api, clock, members,
                                                                                     store):
    """Issue 13: posted Oct 31, read Dec 2 after the Nov 1 opening: no enrolment, and 'opened after your
    post', never 'opens Nov 1'."""
    from datetime import UTC, date, datetime

    opening = campaign(id="opening", hashtag="#AmexOpening", enrol_from=date(2026, 11, 1))
    with uow() as tx:
        tx.campaigns.sync([opening], clock())
        tx.commit()
    clock.now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    api.post(mention(1, "1001", "@offerbot #AmexOpening", at=datetime(2026, 10, 31, 23, 0, tzinfo=UTC)))

    report = poll(uow, api, Catalog((opening,)), clock)

    assert enrolments(uow) == set()
    assert report.outcomes == {"opened after post": 1}
    [(_, _, context)] = outbox(store)
    assert [c["id"] for c in context["opened_after_post"]] == ["opening"]
    assert context["not_started"] == []


# --- edited posts -----------------------------------------------------------------------------

def test_an_edit_enrols_in_what_it_adds_and_gets_one_reply_about_only_that(setup, store):
    """An edit adding #AmexZappos enrols in it; its one further reply names Zappos only, never
    'already enrolled' in the McDonald's offer of its own original."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"))
    poll(uow, api, catalog, clock)
    api.post(mention(2, "1001", "@offerbot #AmexMcDonalds #AmexZappos", edit_of=1))

    report = poll(uow, api, catalog, clock)

    assert report.handled == 1
    assert enrolments(uow) == {("1001", "amex-mcdonalds"), ("1001", "amex-zappos")}
    rows = [(r.dedupe_key, r.in_reply_to, r.thread, r.context) for r in store.outbox_rows()]
    assert [(key, to, thread) for key, to, thread, _ in rows] == [("post:1", "1", "post:1"),
                                                                  ("edit:1", "2", "post:1")]
    context = json.loads(rows[1][3])
    assert [c["id"] for c in context["enrolled"]] == ["amex-zappos"]
    assert context["already_enrolled"] == []


@pytest.mark.parametrize("edited", ["@offerbot #AmexMcDonalds (typo fixed)", "@offerbot #amexmcdonalds",
                                    "@offerbot thanks", "@offerbot #AmexMcDonalds #fridayvibes"])
def test_an_edit_with_nothing_new_gets_no_reply(setup, store, edited):
    """An edit that enrols in nothing new and adds no news (a fixed typo, the same hashtag, banter next
    to an offer) is recorded and not answered."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"))
    poll(uow, api, catalog, clock)
    api.post(mention(2, "1001", edited, edit_of=1))

    report = poll(uow, api, catalog, clock)

    assert report.handled == 1
    assert [key for key, _, _ in outbox(store)] == ["post:1"]
    assert store.state.posts["2"].interaction_id == "1"


def test_an_interaction_gets_at_most_one_reply_after_its_edits(setup, store):
    """A second edit adding yet another offer still enrols, but the interaction has had its one
    further reply."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"))
    poll(uow, api, catalog, clock)
    api.post(mention(2, "1001", "@offerbot #AmexMcDonalds #AmexZappos", edit_of=1))
    poll(uow, api, catalog, clock)
    api.post(mention(3, "1001", "@offerbot #AmexMcDonalds #AmexZappos #AmexFedEx", edit_of=1))

    poll(uow, api, catalog, clock)

    assert ("1001", "amex-fedex") in enrolments(uow)
    assert [key for key, _, _ in outbox(store)] == ["post:1", "edit:1"]


def test_a_post_and_its_edit_in_one_poll_are_one_interaction(setup, store):
    """Original and edit served together: handled oldest first, the edit reports what it added."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"),
             mention(2, "1001", "@offerbot #AmexMcDonalds #AmexZappos", edit_of=1))

    poll(uow, api, catalog, clock)

    replies = outbox(store)
    assert [key for key, _, _ in replies] == ["post:1", "edit:1"]
    assert [c["id"] for c in replies[1][2]["enrolled"]] == ["amex-zappos"]


def test_the_original_served_after_its_edit_is_not_handled_again(setup, store):
    """X may serve an older version after a newer one was handled: it is skipped, not answered."""
    uow, api, catalog, clock = setup
    api.post(mention(2, "1001", "@offerbot #AmexMcDonalds", edit_of=1))
    poll(uow, api, catalog, clock)
    api.post(mention(1, "1001", "@offerbot #AmexZappos"))
    with uow() as tx:
        tx.cursors.set("mentions", "0", clock())
        tx.commit()

    report = poll(uow, api, catalog, clock)

    assert (report.handled, report.already_handled) == (0, 2)
    assert enrolments(uow) == {("1001", "amex-mcdonalds")}


def test_an_edit_of_a_post_never_handled_is_handled_as_a_new_post(setup, store):
    """The original is older than the cursor (never seen): the edit is a post like any other."""
    uow, api, catalog, clock = setup
    api.post(mention(7, "1001", "@offerbot #AmexMcDonalds", edit_of=3))

    poll(uow, api, catalog, clock)

    [(key, to, context)] = outbox(store)
    assert (key, to) == ("post:7", "7")
    assert [c["id"] for c in context["enrolled"]] == ["amex-mcdonalds"]
    assert store.outbox_rows()[0].thread == "post:3"


def test_an_edit_can_be_an_opt_out(setup, store):
    """An edit saying STOP unlinks the member; its confirmation is in the interaction's thread."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"))
    poll(uow, api, catalog, clock)
    api.post(mention(2, "1001", "@offerbot stop please", edit_of=1))

    report = poll(uow, api, catalog, clock)

    assert report.unlinked == 1
    rows = [(r.dedupe_key, r.in_reply_to, r.thread, r.status) for r in store.outbox_rows()]
    assert [tuple(r) for r in rows] == [("post:1", "1", "post:1", "cancelled"),
                                        ("stop:1", "2", "post:1", "pending")]


def test_an_edit_adding_a_sold_out_offer_is_told_so(uow, api, clock, members, store):
    """News about a hashtag the edit added (sold out) is worth the one further reply."""
    limited = campaign(id="limited", hashtag="#AmexLimited", max_enrolments=1)
    zappos = campaign(id="amex-zappos", hashtag="#AmexZappos")
    with uow() as tx:
        tx.campaigns.sync([limited, zappos], clock())
        tx.commit()
    catalog = Catalog((limited, zappos))
    api.post(mention(1, "1002", "@offerbot #AmexLimited"), mention(2, "1001", "@offerbot #AmexZappos"))
    poll(uow, api, catalog, clock)
    api.post(mention(3, "1001", "@offerbot #AmexZappos #AmexLimited", edit_of=2))

    poll(uow, api, catalog, clock)

    [*_, (key, _, context)] = outbox(store)
    assert key == "edit:2"
    assert [c["id"] for c in context["sold_out"]] == ["limited"]
    assert context["already_enrolled"] == []


def test_stop_sent_twice_in_one_poll_is_confirmed_once(setup, store):
    """A second STOP (the member is unlinked by then) neither drops nor repeats the first confirmation."""
    uow, api, catalog, clock = setup
    api.post(mention(1, "1001", "@offerbot STOP"), mention(2, "1001", "@offerbot stop please"))

    poll(uow, api, catalog, clock)

    assert [key for key, _, _ in outbox(store)] == ["stop:1"]


def test_places_taken_by_another_poller_meanwhile_go_to_the_earliest_posts(uow, api, clock, members, store,
                                                                            monkeypatch):
    """When a concurrent poller takes places between this batch's read and its reservation, the
    places granted go to the oldest posts and the rest are sold out, as if reserved one by one:
    a member whose first post found none left is told sold out again, never "already enrolled"."""
    limited = campaign(id="limited", hashtag="#AmexLimited", max_enrolments=3)
    mcdonalds = campaign()
    with uow() as tx:
        tx.campaigns.sync([limited, mcdonalds], clock())
        tx.commit()
    reserve_many = FakeCampaigns.reserve_many

    def another_poller_first(self: FakeCampaigns, wanted: dict[str, int]) -> dict[str, int]:
        self._s.campaigns["limited"].enrolled += 2  # committed by the other poller just now
        return reserve_many(self, wanted)

    monkeypatch.setattr(FakeCampaigns, "reserve_many", another_poller_first)
    api.post(mention(10, "1001", "@offerbot #AmexLimited"),
             mention(11, "1002", "@offerbot #AmexLimited #AmexMcDonalds"),
             mention(12, "1003", "@offerbot #AmexLimited"),
             mention(13, "1002", "@offerbot #AmexLimited"))

    report = poll(uow, api, Catalog((limited, mcdonalds)), clock)

    assert enrolments(uow) == {("1001", "limited"), ("1002", "amex-mcdonalds")}
    assert report.outcomes == {"enrolled": 2, "sold out": 3}
    replies = {to: context for _, to, context in outbox(store)}
    assert [c["id"] for c in replies["10"]["enrolled"]] == ["limited"]
    assert [c["id"] for c in replies["11"]["sold_out"]] == ["limited"]
    assert [c["id"] for c in replies["12"]["sold_out"]] == ["limited"]
    assert [c["id"] for c in replies["13"]["sold_out"]] == ["limited"]
    assert replies["13"]["already_enrolled"] == []
    with uow(readonly=True) as tx:
        assert tx.campaigns.enrolment_counts() == {"limited": 3, "amex-mcdonalds": 1}
