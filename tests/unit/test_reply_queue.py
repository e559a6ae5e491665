"""`offerbot replies`: what did not go out, and one more attempt for one of them."""

from __future__ import annotations

import pytest

from bot.domain.replies import DM, Delivery, ReplyIntent, opt_out_reply
from bot.errors import DmNotAllowed, NotRetryable, PermanentApiError, TransientApiError
from bot.services.replies import send_replies
from bot.services.reply_queue import list_replies, retry_reply
from tests.fakes import reply_context


def queue(uow, clock, key: str, member: str = "1001", channel: str = "reply") -> int:
    context = reply_context(ref=key[-4:], enrolled=[{"hashtag": "#AmexMcDonalds", "merchant": "McDonald's",
                                                    "reward": "$5 back", "redeem_by": "Jan 31, 2027"}])
    template = "reply.j2"
    if channel == DM:
        template, context = "credit.j2", {"kind": "credit", "amount": "$5.00", "merchant": "McDonald's",
                                          "hashtag": "#AmexMcDonalds", "ref": key[-4:]}
    with uow() as tx:
        tx.outbox.add_many([ReplyIntent(key, member, "11", template, context, channel=channel)], clock())
        tx.commit()
    with uow(readonly=True) as tx:
        return next(r.id for r in tx.outbox.listing(["pending"], 100) if r.dedupe_key == key)


@pytest.fixture
def send(uow, renderer, clock, members):
    return lambda api: send_replies(uow, api, renderer, clock)


def test_the_listing_shows_failed_and_undeliverable_with_their_reasons(uow, clock, send, api):
    """By default only what needs attention is listed, latest first, each with its reason."""
    queue(uow, clock, "post:1001")
    queue(uow, clock, "credit:c1", channel=DM)
    queue(uow, clock, "post:1003", member="1002")
    api.reply_errors.append(PermanentApiError("POST /2/tweets: HTTP 400 Bad Request"))
    api.dm_errors.append(DmNotAllowed("403 You cannot send messages to this user."))

    send(api)

    listed = list_replies(uow)
    assert [(r.dedupe_key, r.channel, r.status, r.reason) for r in listed] == [
        ("credit:c1", "dm", "undeliverable", "403 You cannot send messages to this user."),
        ("post:1001", "reply", "failed", "POST /2/tweets: HTTP 400 Bad Request")]
    assert [r.dedupe_key for r in list_replies(uow, statuses=["sent"])] == ["post:1003"]
    assert len(list_replies(uow, statuses=["failed", "undeliverable", "sent"], limit=2)) == 2


def test_a_retried_reply_gets_exactly_one_more_attempt(uow, clock, send, api):
    """Retry requeues a failed reply; a transient error on that attempt fails it again, not retried on."""
    reply_id = queue(uow, clock, "post:1001")
    api.reply_errors.append(PermanentApiError("400"))
    send(api)

    retry_reply(uow, clock, reply_id)
    api.reply_errors.append(TransientApiError("503"))
    send(api)

    with uow(readonly=True) as tx:
        record = tx.outbox.get(reply_id)
    assert record is not None
    assert (record.status, record.reason) == ("failed", "503")
    retry_reply(uow, clock, reply_id)  # by hand, once more each time
    send(api)
    assert len(api.replies) == 1


def test_a_retried_dm_goes_out_once(uow, clock, send, api):
    """An undeliverable DM, retried once the member allows DMs, is sent; a second retry is refused."""
    reply_id = queue(uow, clock, "credit:c1", channel=DM)
    api.dm_errors.append(DmNotAllowed("403"))
    send(api)

    retry_reply(uow, clock, reply_id)
    send(api)

    assert [member for _, member, _ in api.dms] == ["1001"]
    assert api.lookups  # an attempt after the first looks for the DM before sending it
    with pytest.raises(NotRetryable, match="is sent, not failed or undeliverable"):
        retry_reply(uow, clock, reply_id)


@pytest.mark.parametrize(("status", "message"), [
    ("pending", "is pending, not failed or undeliverable"),
    ("cancelled", "is cancelled, not failed or undeliverable"),
])
def test_only_failed_or_undeliverable_replies_can_be_retried(uow, clock, members, status, message):
    """Retrying anything else is an error that says why."""
    reply_id = queue(uow, clock, "post:1001")
    if status != "pending":
        with uow() as tx:
            tx.outbox.record(reply_id, Delivery(status), clock())
            tx.commit()

    with pytest.raises(NotRetryable, match=message):
        retry_reply(uow, clock, reply_id)


def test_an_unlinked_members_reply_cannot_be_retried_but_an_opt_out_confirmation_can(uow, clock, members):
    """The bot sends nothing to a member no longer linked, but for the confirmation of their opt-out."""
    reply_id = queue(uow, clock, "post:1001")
    with uow() as tx:
        tx.outbox.add_many([opt_out_reply("12", "1001")], clock())
        tx.outbox.record(reply_id, Delivery("failed", note="400"), clock())
        tx.members.unlink("1001", clock())
        tx.commit()
    with uow(readonly=True) as tx:
        stop_id = next(r.id for r in tx.outbox.listing(["pending"], 10) if r.dedupe_key == "stop:12")
    with uow() as tx:
        tx.outbox.record(stop_id, Delivery("failed", note="503"), clock())
        tx.commit()

    with pytest.raises(NotRetryable, match="member 1001, who is no longer linked"):
        retry_reply(uow, clock, reply_id)
    assert retry_reply(uow, clock, stop_id).dedupe_key == "stop:12"


def test_retrying_a_reply_that_does_not_exist_says_so(uow, clock):
    """An unknown id is an error pointing at the listing."""
    with pytest.raises(NotRetryable, match="there is no reply 42"):
        retry_reply(uow, clock, 42)
