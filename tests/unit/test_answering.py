"""The poll job: the replies a poll queues go out in the same run, each once; failures wait for the tick."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import responses

from bot.adapters.x_api import XApi
from bot.environment import XCredentials
from bot.errors import RateLimited, TransientApiError
from bot.services.answering import AnswerReport, poll_and_answer
from bot.services.replies import retry_delay, send_replies
from tests.fakes import BOT_ID, START, FakeStore, mention

MENTIONS_URL = f"https://api.twitter.com/2/users/{BOT_ID}/mentions"
TWEETS_URL = "https://api.twitter.com/2/tweets"


@pytest.fixture
def job(uow, catalog, renderer, clock, members):
    """One run of the poll job on the fakes, as the scheduler makes it."""
    def run(api):
        return poll_and_answer(uow, api, catalog, renderer, clock, bot_user_id=BOT_ID, batch=20)
    return run


@pytest.fixture
def tick(uow, renderer, clock):
    """One run of the reply tick (the separate sending job)."""
    def run(api):
        return send_replies(uow, api, renderer, clock, batch=20)
    return run


def sent(report: AnswerReport) -> dict[str, int] | None:
    """What the job's own sending run did, or None when it made none."""
    return None if report.sent is None else dict(report.sent.results)


def statuses(store: FakeStore) -> list[tuple[str, str, int]]:
    return [(r.dedupe_key, r.status, r.attempts) for r in store.outbox_rows()]


def test_the_replies_a_poll_queued_are_sent_in_the_same_job_run(job, tick, api, store):
    """Two posts polled: both replies go out in that run, under their posts; the tick then finds
    nothing to send, so neither goes twice."""
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"), mention(2, "1002", "@offerbot #AmexMcDonalds"))

    report = job(api)

    assert report.poll.replies_queued == 2
    assert sent(report) == {"sent": 2}
    assert sorted(to for _, to, _ in api.replies) == ["1", "2"]
    assert statuses(store) == [("post:1", "sent", 1), ("post:2", "sent", 1)]
    assert tick(api).results == {}
    assert len(api.replies) == 2


def test_a_poll_that_queued_nothing_makes_no_sending_run(job, api, store):
    """Nothing new (or only posts that need no answer): the job stops after the poll."""
    api.post(mention(1, "4242", "@offerbot #AmexMcDonalds"))  # not linked: recorded, never answered

    report = job(api)

    assert report.poll.handled == 1
    assert sent(report) is None
    assert api.replies == []


def test_a_failed_send_is_retried_by_the_reply_tick(job, tick, api, store, clock):
    """A server error on the job's send leaves the reply pending with its backoff; the tick before
    then sends nothing, the tick after it sends the reply once."""
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"))
    api.reply_errors.append(TransientApiError("POST /2/tweets: 503"))

    report = job(api)

    assert sent(report) == {"retrying": 1}
    assert statuses(store) == [("post:1", "pending", 1)]
    assert tick(api).results == {}
    clock.advance(seconds=retry_delay(1).total_seconds())
    assert tick(api).results == {"sent": 1}
    assert [to for _, to, _ in api.replies] == ["1"]
    assert statuses(store) == [("post:1", "sent", 2)]


def test_a_rate_limited_send_waits_for_the_reset_then_the_tick_sends_it(job, tick, api, store, clock):
    """A 429 on the job's send postpones the reply until X's reset: no tick sends it before then."""
    reset = clock() + timedelta(minutes=12)
    api.post(mention(1, "1001", "@offerbot #AmexMcDonalds"), mention(2, "1002", "@offerbot #AmexMcDonalds"))
    api.reply_errors.append(RateLimited("POST /2/tweets", reset))

    report = job(api)

    assert sent(report) == {"postponed": 2}
    assert api.replies == []
    assert {_utc(r.next_attempt_at) for r in store.outbox_rows()} == {reset}
    clock.advance(minutes=11, seconds=59)
    assert tick(api).results == {}
    clock.advance(seconds=1)
    assert tick(api).results == {"sent": 2}


def test_the_x_rate_limit_reset_header_holds_the_replies_through_the_real_client(
        uow, catalog, renderer, clock, members, store):
    """Through XApi (tweepy, mocked HTTP): a 429 on POST /2/tweets with x-rate-limit-reset postpones
    the job's replies until one second past that reset; no further POST is made before then."""
    reset = START + timedelta(minutes=15)
    body = {"data": [{"id": "11", "text": "@offerbot #AmexMcDonalds", "author_id": "1001",
                      "created_at": "2026-11-23T11:59:00.000Z", "edit_history_tweet_ids": ["11"],
                      "entities": {"hashtags": [{"start": 10, "end": 24, "tag": "AmexMcDonalds"}],
                                   "mentions": [{"start": 0, "end": 9, "username": "offerbot",
                                                 "id": BOT_ID}]}}],
            "includes": {"users": [{"id": "1001", "name": "Alice", "username": "alice"}]},
            "meta": {"newest_id": "11", "oldest_id": "11", "result_count": 1}}
    api = XApi.from_credentials(XCredentials("ck", "cs", "at", "ats"), BOT_ID, clock=clock,
                                sleep=lambda _seconds: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.get(MENTIONS_URL, body=json.dumps(body))
        mocked.post(TWEETS_URL, status=429, headers={"x-rate-limit-reset": str(int(reset.timestamp()))},
                    json={"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                          "status": 429})

        report = poll_and_answer(uow, api, catalog, renderer, clock, bot_user_id=BOT_ID)

        assert sent(report) == {"postponed": 1}
        [row] = store.outbox_rows()
        assert row.status == "pending"
        assert _utc(row.next_attempt_at) == reset + timedelta(seconds=1)
        posts = [c for c in mocked.calls if c.request.method == "POST"]
        assert len(posts) == 1
        clock.advance(minutes=14)
        assert send_replies(uow, api, renderer, clock).results == {}
        assert len([c for c in mocked.calls if c.request.method == "POST"]) == 1


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
