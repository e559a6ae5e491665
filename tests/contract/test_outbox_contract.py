"""The outbox: messages queued once, claimed by one sender, their results recorded."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.replies import DM, Delivery, ReplyIntent, ReplyStatus, ThreadReply

LEASE = timedelta(minutes=5)


def intent(key: str, member: str = "1001", *, thread: str | None = None,
           channel: str = "reply") -> ReplyIntent:
    """A message to queue, its context holding something JSON turns into a list."""
    return ReplyIntent(key, member, key.rpartition(":")[2], "reply.j2", {"ref": key, "tags": ("a", "b")},
                       thread=thread, channel=channel)


def test_a_message_is_queued_once_per_key(uow, clock):
    """Queueing the same key again leaves the first message as it was."""
    with uow() as tx:
        tx.outbox.add_many([intent("post:1"), intent("post:2", "1002")], clock())
        tx.outbox.add_many([intent("post:1", "9999")], clock())
        tx.commit()

    with uow(readonly=True) as tx:
        assert tx.outbox.counts() == {"pending": 2}
        [second, first] = tx.outbox.listing(["pending"], 10)
    assert (first.dedupe_key, first.member_id) == ("post:1", "1001")
    assert (first.status, first.attempts) == ("pending", 0)
    assert (first.created_at, first.next_attempt_at, first.last_attempt_at, first.when) == (
        clock(), clock(), None, clock())
    assert second.dedupe_key == "post:2"


def test_claiming_takes_due_messages_in_order_once(uow, clock):
    """claim marks up to ``limit`` due messages as being sent, oldest first, counting the attempt."""
    with uow() as tx:
        tx.outbox.add_many([intent("post:1"), intent("post:2"), intent("post:3")], clock())
        tx.commit()
    with uow() as tx:
        items = tx.outbox.claim(clock(), 2, LEASE, "me", lambda _: False)
        again = tx.outbox.claim(clock(), 5, LEASE, "other", lambda _: False)
        tx.commit()

    assert [(i.dedupe_key, i.attempts, i.channel) for i in items] == [("post:1", 1, "reply"),
                                                                       ("post:2", 1, "reply")]
    assert items[0].context == {"ref": "post:1", "tags": ["a", "b"]}  # as JSON gives it back
    assert [i.dedupe_key for i in again] == ["post:3"]
    with uow(readonly=True) as tx:
        assert tx.outbox.counts() == {"sending": 3}


def test_a_dead_senders_claims_are_due_after_the_lease_or_at_once_when_it_is_gone(uow, clock):
    """A claim whose sender died is taken again once its lease ran out, or at once if ``gone`` says so."""
    with uow() as tx:
        tx.outbox.add_many([intent("post:1"), intent("post:2")], clock())
        tx.commit()
    with uow() as tx:
        tx.outbox.claim(clock(), 1, LEASE, "dead", lambda _: False)
        tx.outbox.claim(clock(), 1, LEASE, "alive", lambda _: False)
        tx.commit()
    with uow() as tx:
        taken = tx.outbox.claim(clock(), 5, LEASE, "me", lambda s: s == "dead")
        assert [i.dedupe_key for i in taken] == ["post:1"]
        assert tx.outbox.claim(clock(), 5, LEASE, "alive", lambda s: s == "alive") == []  # never its own
        late = tx.outbox.claim(clock.advance(minutes=6), 5, LEASE, "me", lambda _: False)
        tx.commit()
    assert [(i.dedupe_key, i.attempts) for i in late] == [("post:1", 3), ("post:2", 2)]


def test_results_are_recorded_and_a_pending_one_is_due_at_its_retry_time(uow, clock):
    """record keeps what X said: a sent message its id, a retried one its next time and reason."""
    with uow() as tx:
        tx.outbox.add_many([intent("post:1"), intent("post:2"), intent("post:3")], clock())
        one, two, three = tx.outbox.claim(clock(), 3, LEASE, "me", lambda _: False)
        tx.outbox.record(one.id, Delivery(ReplyStatus.SENT, post_id="900"), clock())
        tx.outbox.record(two.id, Delivery(ReplyStatus.PENDING, note="503 " + "x" * 600,
                                          retry_at=clock() + timedelta(minutes=2)), clock())
        tx.outbox.record(three.id, Delivery(ReplyStatus.FAILED, note=""), clock())
        tx.commit()

    with uow() as tx:
        sent, retried, failed = (tx.outbox.get(i.id) for i in (one, two, three))
        assert tx.outbox.claim(clock.advance(minutes=1), 5, LEASE, "me", lambda _: False) == []
        due = tx.outbox.claim(clock.advance(minutes=1), 5, LEASE, "me", lambda _: False)
        assert [i.id for i in due] == [two.id]
    assert sent is not None
    assert retried is not None
    assert failed is not None
    assert (sent.status, sent.reason) == ("sent", None)
    assert sent.sent_at == sent.when == sent.created_at
    assert (retried.status, len(retried.reason or "")) == ("pending", 500)
    assert (failed.status, failed.reason) == ("failed", None)
    with uow(readonly=True) as tx:
        assert tx.outbox.get(404) is None


def test_threads_and_dms_are_looked_at_in_the_order_queued(uow, clock):
    """earlier_in_thread lists a thread's earlier replies latest first; earlier_dm_unsent sees queued DMs."""
    with uow() as tx:
        tx.outbox.add_many([intent("post:1", thread="post:1"), intent("edit:1", thread="post:1"),
                            intent("credit:a", channel=DM), intent("credit:b", channel=DM),
                            intent("credit:c", "1002", channel=DM)], clock())
        items = {i.dedupe_key: i for i in tx.outbox.claim(clock(), 10, LEASE, "me", lambda _: False)}
        tx.outbox.record(items["post:1"].id, Delivery(ReplyStatus.SENT, post_id="900"), clock())
        tx.commit()

    with uow(readonly=True) as tx:
        earlier = tx.outbox.earlier_in_thread("post:1", items["edit:1"].id)
        assert earlier == [ThreadReply(ReplyStatus.SENT, "900")]
        assert tx.outbox.earlier_in_thread("post:1", items["post:1"].id) == []
        assert tx.outbox.earlier_dm_unsent("1001", items["credit:b"].id) is True
        assert tx.outbox.earlier_dm_unsent("1001", items["credit:a"].id) is False
        assert tx.outbox.earlier_dm_unsent("1002", items["credit:c"].id) is False


def test_cancelling_and_requeueing(uow, clock):
    """A member's pending messages can be cancelled; only a failed or undeliverable one can be requeued."""
    with uow() as tx:
        tx.outbox.add_many([intent("post:1"), intent("post:2"), intent("post:3", "1002")], clock())
        [first] = tx.outbox.claim(clock(), 1, LEASE, "me", lambda _: False)
        tx.outbox.record(first.id, Delivery(ReplyStatus.UNDELIVERABLE, note="403"), clock())
        assert tx.outbox.cancel_for_member("1001", "member sent STOP") == 1
        tx.commit()

    with uow() as tx:
        assert tx.outbox.requeue(first.id, clock.advance(hours=1), attempts=7, note="retry requested") is True
        assert tx.outbox.requeue(first.id, clock(), attempts=7, note="again") is False
        tx.commit()
    with uow(readonly=True) as tx:
        record = tx.outbox.get(first.id)
        cancelled = tx.outbox.listing(["cancelled"], 10)
        assert tx.outbox.counts() == {"pending": 2, "cancelled": 1}
        assert [r.dedupe_key for r in tx.outbox.listing(["pending", "cancelled"], 2)] == ["post:3", "post:2"]
    assert record is not None
    assert (record.status, record.attempts, record.reason, record.next_attempt_at) == (
        "pending", 7, "retry requested", clock())
    assert [(r.dedupe_key, r.reason) for r in cancelled] == [("post:2", "member sent STOP")]
