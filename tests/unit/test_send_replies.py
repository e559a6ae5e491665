"""Sending queued replies: once each, whatever X answers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.replies import ReplyIntent
from bot.errors import (
    AuthError,
    DuplicateContent,
    PermanentApiError,
    RateLimited,
    ReplyNotAllowed,
    TransientApiError,
)
from bot.services.replies import LEASE, MAX_ATTEMPTS, send_replies
from tests.fakes import FakeSocialApi, FakeStore, reply_context

ENROLLED = reply_context(enrolled=[{"hashtag": "#AmexMcDonalds", "merchant": "McDonald's",
                                    "reward": "$5 back", "redeem_by": "Jan 31, 2027"}])


def queue(uow, clock, *, post_id: str, member: str = "1001", thread: str | None = None, **context) -> None:
    intent = ReplyIntent(f"post:{post_id}", member, post_id, "reply.j2",
                         {**ENROLLED, "ref": f"R{post_id}", **context}, thread=thread)
    with uow() as tx:
        tx.outbox.add_many([intent], clock())
        tx.commit()


def rows(store: FakeStore) -> list[tuple]:
    """The outbox as (dedupe key, status, attempts, sent post id, last error), in the order queued."""
    return [(r.dedupe_key, r.status, r.attempts, r.sent_post_id, r.last_error) for r in store.outbox_rows()]


@pytest.fixture
def send(uow, renderer, clock, members):
    def run(api: FakeSocialApi, **kwargs):
        return send_replies(uow, api, renderer, clock, **kwargs)

    return run


def test_a_due_reply_is_posted_in_reply_to_its_post_and_marked_sent(uow, store, clock, send, api):
    """The reply goes to the member's post and the row records X's id for it."""
    queue(uow, clock, post_id="11")

    report = send(api)

    [(text_, to, post_id)] = api.replies
    assert to == "11"
    assert "You're enrolled in #AmexMcDonalds" in text_
    assert rows(store) == [("post:11", "sent", 1, post_id, None)]
    assert report.results == {"sent": 1}


def test_the_same_intent_queued_twice_is_sent_once(uow, clock, send, api):
    """The outbox key makes a second queueing of the same reply a no-op."""
    queue(uow, clock, post_id="11")
    queue(uow, clock, post_id="11")

    send(api)
    send(api)

    assert len(api.replies) == 1


def test_duplicate_content_counts_as_sent_and_is_not_retried(uow, store, clock, send, api):
    """X's 403 'duplicate content' means the reply is already there: sent, never retried."""
    queue(uow, clock, post_id="11")
    api.reply_errors.append(DuplicateContent("403 duplicate content"))

    send(api)
    clock.advance(hours=2)
    send(api)

    [(_, status, attempts, post_id, note)] = rows(store)
    assert (status, attempts, post_id) == ("sent", 1, None)
    assert "duplicate" in note


def test_a_rate_limit_puts_the_rest_of_the_batch_back_until_the_reset(uow, store, clock, send, api):
    """On 429 no more replies are tried; they are due again at X's reset time."""
    for post_id in ("11", "12", "13"):
        queue(uow, clock, post_id=post_id, member={"11": "1001", "12": "1002", "13": "1003"}[post_id])
    reset = clock() + timedelta(minutes=15)
    api.reply_errors.append(RateLimited("POST /2/tweets", reset))

    send(api)

    assert api.replies == []
    assert {status for _, status, *_ in rows(store)} == {"pending"}
    clock.advance(minutes=14)
    assert send(api).results == {}
    clock.advance(minutes=2)
    assert send(api).results == {"sent": 3}


def test_a_server_error_is_retried_later_with_backoff(uow, clock, send, api):
    """A transient failure leaves the reply pending, due again after a delay, then it goes out."""
    queue(uow, clock, post_id="11")
    api.reply_errors.append(TransientApiError("503"))

    assert send(api).results == {"retrying": 1}
    assert send(api).results == {}
    clock.advance(seconds=31)
    assert send(api).results == {"sent": 1}


def test_a_reply_that_keeps_failing_is_given_up_after_max_attempts(uow, store, clock, send, api):
    """After MAX_ATTEMPTS transient failures the row is failed with the reason, not retried forever."""
    queue(uow, clock, post_id="11")
    api.reply_errors.extend(TransientApiError("503") for _ in range(MAX_ATTEMPTS))

    for _ in range(MAX_ATTEMPTS):
        send(api)
        clock.advance(hours=2)

    [(_, status, attempts, _, note)] = rows(store)
    assert (status, attempts) == ("failed", MAX_ATTEMPTS)
    assert "503" in note


@pytest.mark.parametrize("error", [ReplyNotAllowed("403 not allowed"), PermanentApiError("400 bad")])
def test_a_refused_reply_is_failed_with_the_reason(uow, store, clock, send, api, error):
    """A permanent refusal fails that reply only; it is not retried."""
    queue(uow, clock, post_id="11")
    api.reply_errors.append(error)

    send(api)

    [(_, status, _, _, note)] = rows(store)
    assert status == "failed"
    assert note == str(error)


def test_bad_credentials_stop_the_batch_and_raise(uow, store, clock, send, api):
    """An auth failure is raised for the job to log, and the replies wait instead of failing."""
    queue(uow, clock, post_id="11")
    queue(uow, clock, post_id="12", member="1002")
    api.reply_errors.append(AuthError("401"))

    with pytest.raises(AuthError):
        send(api)

    assert [status for _, status, *_ in rows(store)] == ["pending", "pending"]


def test_a_reply_to_a_member_who_unlinked_is_cancelled(uow, store, clock, send, api):
    """If the member unlinked after the reply was queued, it is cancelled, not sent."""
    queue(uow, clock, post_id="11")
    with uow() as tx:
        tx.members.unlink("1001", clock())
        tx.commit()

    send(api)

    assert api.replies == []
    assert rows(store)[0][1] == "cancelled"


def test_a_reply_over_280_weighted_characters_goes_out_shortened(uow, store, clock, send, api):
    """Issue 11: a reply too long for X names fewer campaigns and is sent (it was failed before)."""
    long_name = [{"hashtag": f"#AmexAVeryLongCampaignHashtag{i}", "merchant": "M" * 60,
                  "reward": "$5 back", "redeem_by": "x"} for i in range(12)]
    queue(uow, clock, post_id="11", enrolled=long_name)

    send(api)

    [(text_, _, _)] = api.replies
    assert "more. Pay with your synced card." in text_
    assert rows(store)[0][1] == "sent"


def test_a_reply_that_cannot_be_made_to_fit_is_failed_not_sent(uow, store, clock, send, api):
    """A text with nothing left to shorten (a 300-character merchant) is failed with the template's name."""
    intent = ReplyIntent("credit:c1", "1001", "11", "credit.j2",
                         {"kind": "credit", "amount": "$5.00", "merchant": "M" * 300,
                          "hashtag": "#AmexMcDonalds", "ref": "C1"})
    with uow() as tx:
        tx.outbox.add_many([intent], clock())
        tx.commit()

    send(api)

    assert api.replies == []
    [(_, status, _, _, note)] = rows(store)
    assert status == "failed"
    assert "credit.j2" in note


def test_a_reply_claimed_by_a_sender_that_died_is_sent_again_after_the_lease(uow, clock, send, api):
    """A row left 'sending' (the process died mid-send) is retried after the lease; X dedupes it."""
    queue(uow, clock, post_id="11")
    with uow() as tx:
        claimed = tx.outbox.claim(clock(), 10, LEASE, "me:1", lambda _: False)
        tx.commit()
    assert len(claimed) == 1

    assert send(api).results == {}
    clock.advance(minutes=6)
    assert send(api).results == {"sent": 1}


def test_a_crash_after_x_accepted_the_reply_does_not_post_it_twice(uow, store, clock, renderer, send, api):
    """If X took the post but the process died before recording it, the resend hits duplicate content."""
    queue(uow, clock, post_id="11")
    with uow() as tx:
        [item] = tx.outbox.claim(clock(), 10, LEASE, "me:1", lambda _: False)
        tx.commit()
    api.reply(renderer.render(item.template, item.context), item.in_reply_to)  # then "kill -9"

    clock.advance(minutes=6)
    send(api)

    assert len(api.replies) == 1
    assert rows(store)[0][1] == "sent"


def test_a_credit_notice_goes_under_the_bots_own_confirmation(uow, clock, send, api):
    """A reply in a thread goes under the bot's earlier reply, not on the member's post again."""
    queue(uow, clock, post_id="11", thread="post:11")
    send(api)
    confirmation = api.replies[0][2]
    intent = ReplyIntent("credit:c1", "1001", "11", "credit.j2",
                         {"kind": "credit", "amount": "$5.00", "merchant": "McDonald's",
                          "hashtag": "#AmexMcDonalds", "ref": "C1"}, thread="post:11")
    with uow() as tx:
        tx.outbox.add_many([intent], clock())
        tx.commit()

    send(api)

    assert api.replies[1][1] == confirmation


def test_notices_without_a_confirmation_chain_under_the_first_one(uow, clock, send, api):
    """With no confirmation, only the first notice answers the member's post; the next goes under it."""
    notices = [ReplyIntent(f"credit:c{n}", "1001", "11", "credit.j2",
                           {"kind": kind, "amount": "$5.00", "merchant": "McDonald's",
                            "hashtag": "#AmexMcDonalds", "ref": f"C{n}"}, thread="post:11")
               for n, kind in ((1, "credit"), (2, "clawback"))]
    with uow() as tx:
        tx.outbox.add_many(notices, clock())
        tx.commit()

    send(api)

    [(_, first_to, first_id), (_, second_to, _)] = api.replies
    assert (first_to, second_to) == ("11", first_id)


def test_the_opt_out_confirmation_is_the_one_message_an_unlinked_member_gets(uow, store, clock, send, api):
    """After STOP, its confirmation goes out to the (now unlinked) member; their other replies do not."""
    from bot.domain.replies import opt_out_reply

    queue(uow, clock, post_id="11")
    with uow() as tx:
        tx.members.unlink("1001", clock())
        tx.outbox.add_many([opt_out_reply("12", "1001")], clock())
        tx.commit()

    send(api)

    [(text_, to, _)] = api.replies
    assert to == "12"
    assert text_.startswith("You're unsubscribed: your X account is no longer linked to your card")
    assert [status for _, status, *_ in rows(store)] == ["cancelled", "sent"]


# --- direct messages --------------------------------------------------------------------------

CREDIT = {"kind": "credit", "amount": "$5.00", "merchant": "McDonald's", "hashtag": "#AmexMcDonalds"}


def queue_dm(uow, clock, *, credit: str = "c1", member: str = "1001") -> None:
    from bot.domain.replies import DM

    intent = ReplyIntent(f"credit:{credit}", member, "11", "credit.j2", {**CREDIT, "ref": credit.upper()},
                         channel=DM)
    with uow() as tx:
        tx.outbox.add_many([intent], clock())
        tx.commit()


def test_a_notice_goes_to_the_member_by_direct_message_never_as_a_reply(uow, store, clock, send, api):
    """A DM in the outbox is sent with direct_message to the member; nothing is posted publicly."""
    queue_dm(uow, clock)

    assert send(api).results == {"sent": 1}

    [(text_, member, event_id)] = api.dms
    assert (member, api.replies) == ("1001", [])
    assert text_.startswith("Good news: your $5.00 statement credit from McDonald's")
    assert rows(store) == [("credit:c1", "sent", 1, event_id, None)]


def test_a_dm_x_refuses_is_undeliverable_with_the_reason_and_never_a_public_post(
        uow, store, clock, send, api):
    """DmNotAllowed makes the notice undeliverable (final): not retried, and no reply is posted instead."""
    from bot.errors import DmNotAllowed

    queue_dm(uow, clock)
    api.dm_errors.append(DmNotAllowed("X refused the direct message (403 You cannot send messages to "
                                      "this user.); the member must allow DMs from the bot"))

    assert send(api).results == {"undeliverable": 1}
    clock.advance(hours=3)
    assert send(api).results == {}

    assert (api.dms, api.replies) == ([], [])
    [(_, status, attempts, _, note)] = rows(store)
    assert (status, attempts) == ("undeliverable", 1)
    assert "must allow DMs from the bot" in note


def test_a_dm_retried_after_an_unknown_outcome_is_not_sent_twice(uow, store, clock, renderer, send, api):
    """After a timeout (X may have taken it), the next attempt finds the DM already sent and records it."""
    queue_dm(uow, clock)
    api.dm_errors.append(TransientApiError("Read timed out"))

    assert send(api).results == {"retrying": 1}
    assert api.lookups == []  # a first attempt has nothing to look for
    text_ = renderer.render("credit.j2", {**CREDIT, "ref": "C1"})
    api.dms.append((text_, "1001", "800000000000000777"))  # the timed-out attempt had reached X after all
    clock.advance(minutes=1)

    assert send(api).results == {"sent": 1}

    assert api.lookups == [("1001", text_)]
    assert len(api.dms) == 1
    assert rows(store)[0][:4] == ("credit:c1", "sent", 2, "800000000000000777")


def test_a_dm_rate_limit_holds_only_the_dms_of_the_batch(uow, store, clock, send, api):
    """A 429 on DMs postpones the other DMs until the reset; the replies of the batch still go out."""
    queue_dm(uow, clock, credit="c1")
    queue(uow, clock, post_id="11")
    queue_dm(uow, clock, credit="c2", member="1002")
    api.dm_errors.append(RateLimited("POST /2/dm_conversations/with/:participant_id/messages",
                                     clock() + timedelta(minutes=15)))

    assert send(api).results == {"postponed": 2, "sent": 1}

    assert len(api.replies) == 1
    assert [status for _, status, *_ in rows(store)] == ["pending", "sent", "pending"]
    clock.advance(minutes=16)
    assert send(api).results == {"sent": 2}


def test_a_dm_to_a_member_who_unlinked_is_cancelled(uow, store, clock, send, api):
    """A notice for a member who has since unlinked (or sent STOP) is cancelled, not sent."""
    queue_dm(uow, clock)
    with uow() as tx:
        tx.members.unlink("1001", clock())
        tx.commit()

    send(api)

    assert api.dms == []
    assert rows(store)[0][1] == "cancelled"


def test_dms_to_a_member_go_in_the_order_queued(uow, store, clock, send, api):
    """A clawback notice waits while the credit notice queued before it is being retried."""
    queue_dm(uow, clock, credit="c1")
    queue_dm(uow, clock, credit="c2")
    api.dm_errors.append(TransientApiError("503"))

    assert send(api).results == {"retrying": 2}
    clock.advance(seconds=31)
    send(api)
    clock.advance(minutes=2)
    send(api)

    assert [text_.rsplit("Ref ", 1)[1] for text_, _, _ in api.dms] == ["C1", "C2"]


def test_an_edits_reply_goes_under_the_bots_earlier_reply_or_else_on_the_edit(uow, clock, send, api):
    """The one further reply of an edited interaction chains under the bot's reply to the original; with
    no reply sent there, it answers the edit itself, so the interaction still has one reply on it."""
    queue(uow, clock, post_id="11", thread="post:11")
    send(api)
    first = api.replies[0][2]
    for key, edit_id, original in (("edit:11", "12", "11"), ("edit:21", "22", "21")):
        intent = ReplyIntent(key, "1001", edit_id, "reply.j2", {**ENROLLED, "ref": key[-2:]},
                             thread=f"post:{original}")
        with uow() as tx:
            tx.outbox.add_many([intent], clock())
            tx.commit()

    send(api)

    assert [to for _, to, _ in api.replies[1:]] == [first, "22"]
