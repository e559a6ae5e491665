"""XApi against a mocked api.twitter.com: requests sent, payloads parsed, errors translated."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from bot.adapters.x_api import XApi
from bot.domain.mentions import MentionPage
from bot.environment import XCredentials
from bot.errors import (
    ApiError,
    AuthError,
    DmNotAllowed,
    DuplicateContent,
    PermanentApiError,
    RateLimited,
    ReplyNotAllowed,
    TransientApiError,
)
from tests.fakes import BOT_ID, START, FixedClock

MENTIONS_URL = f"https://api.twitter.com/2/users/{BOT_ID}/mentions"
TWEETS_URL = "https://api.twitter.com/2/tweets"
BOT_HANDLE = "OfferBot"
CREATED = "2026-11-23T11:59:00.000Z"
USERS = {
    "2001": {"id": "2001", "name": "Alice Example", "username": "alice"},
    "2002": {"id": "2002", "name": "Bob Example", "username": "bob"},
    "2003": {"id": "2003", "name": "Carol Example", "username": "carol"},
}
NEW_REPLY_ID = "1860000000000000001"
TOKEN_2 = "7140dibdnow9c7btw423i3sy5bxqs2le36uxls6whj6ly"  # next_token values as X sends them
TOKEN_3 = "b26v89c19zqg8o3fpzbn1e0ffhxjiofzw6po136rvbnul"
DUPLICATE = {"detail": "You are not allowed to create a Tweet with duplicate content.",
             "type": "about:blank", "title": "Forbidden", "status": 403}
NOT_ENGAGED = ("Reply to this conversation is not allowed because you have not been mentioned or "
               "otherwise engaged by the author of the post you are replying to.")


# --- builders ---------------------------------------------------------------------------------

def post(post_id: str, text: str, *, author: str = "2001", entities: bool = True,
         referenced: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A v2 post object as X returns it, with entity offsets computed from ``text``."""
    body: dict[str, Any] = {"id": post_id, "text": text, "author_id": author, "created_at": CREATED,
                            "edit_history_tweet_ids": [post_id], "conversation_id": post_id}
    if entities:
        found: dict[str, Any] = {}
        hashtags = [{"start": m.start(), "end": m.end(), "tag": m.group(1)}
                    for m in re.finditer(r"[#＃](\w+)", text)]
        mentions = [{"start": m.start(), "end": m.end(), "username": m.group(1),
                     "id": BOT_ID if m.group(1) == BOT_HANDLE else "2999"}
                    for m in re.finditer(r"@(\w+)", text)]
        if hashtags:
            found["hashtags"] = hashtags
        if mentions:
            found["mentions"] = mentions
        body["entities"] = found
    if referenced:
        body["referenced_tweets"] = referenced
    return body


def page(*posts: dict[str, Any], next_token: str | None = None) -> dict[str, Any]:
    """A mentions timeline response body: data, includes.users of the authors, and meta."""
    authors = dict.fromkeys(p["author_id"] for p in posts)
    meta: dict[str, Any] = {"newest_id": posts[0]["id"], "oldest_id": posts[-1]["id"],
                            "result_count": len(posts)}
    if next_token:
        meta["next_token"] = next_token
    return {"data": list(posts), "includes": {"users": [USERS[a] for a in authors]}, "meta": meta}


def created(text: str, post_id: str = NEW_REPLY_ID) -> dict[str, Any]:
    """The 201 body of POST /2/tweets."""
    return {"data": {"id": post_id, "text": text, "edit_history_tweet_ids": [post_id]}}


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """A v2 problem body, as X sends with an error status."""
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}


def query(call: Any) -> dict[str, str]:
    """The query string of a recorded call, one value per parameter."""
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def authorization(call: Any) -> str:
    """The Authorization header of a recorded call (requests-oauthlib may leave it as bytes)."""
    value = call.request.headers["Authorization"]
    return value.decode() if isinstance(value, bytes) else str(value)


def by_pagination_token(bodies: dict[str | None, dict[str, Any]]) -> Any:
    """A responses callback answering each mentions request by its pagination_token."""
    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        token = parse_qs(urlsplit(request.url).query).get("pagination_token", [None])[0]
        return 200, {}, json.dumps(bodies[token])
    return answer


def unix(moment: datetime) -> str:
    """A datetime as X's x-rate-limit-reset header value (Unix seconds)."""
    return str(int(moment.timestamp()))


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """A mocked network: unregistered URLs raise ConnectionError, nothing reaches X."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def x_api(clock: FixedClock, sleeps: list[float]) -> XApi:
    return XApi.from_credentials(XCredentials("ck", "cs", "at", "ats"), BOT_ID, clock=clock,
                                 sleep=sleeps.append)


# --- reading mentions -------------------------------------------------------------------------

def test_one_page_becomes_mentions_with_handles_hashtags_and_times(
        mocked: responses.RequestsMock, x_api: XApi) -> None:
    """One page of mentions is parsed into Mention objects, with newest_id from meta."""
    mocked.get(MENTIONS_URL, json=page(
        post("1859000000000000003", f"@{BOT_HANDLE} #AmexMcDonalds please", author="2001"),
        post("1859000000000000002", f"@{BOT_HANDLE} #AmexStarbucks #AmexMcDonalds", author="2002"),
    ))

    pages = x_api.mentions_since("1859000000000000001")

    assert len(pages) == 1
    assert isinstance(pages[0], MentionPage)
    assert pages[0].newest_id == "1859000000000000003"
    first, second = pages[0].mentions
    assert (first.post_id, first.author_id, first.author_handle) == ("1859000000000000003", "2001", "alice")
    assert first.text == f"@{BOT_HANDLE} #AmexMcDonalds please"
    assert first.hashtags == ("amexmcdonalds",)
    assert first.created_at == datetime(2026, 11, 23, 11, 59, tzinfo=UTC)
    assert first.created_at.utcoffset() == timedelta(0)
    assert not first.is_retweet
    assert (second.author_handle, second.hashtags) == ("bob", ("amexstarbucks", "amexmcdonalds"))


def test_mentions_request_carries_since_id_fields_and_oauth1(
        mocked: responses.RequestsMock, x_api: XApi) -> None:
    """The mentions request asks for 100 posts since since_id with entities and authors, signed OAuth 1.0a."""
    mocked.get(MENTIONS_URL, json=page(post("1859000000000000002", f"@{BOT_HANDLE} #AmexMcDonalds")))

    x_api.mentions_since("1859000000000000001")

    assert len(mocked.calls) == 1
    sent = query(mocked.calls[0])
    assert sent["since_id"] == "1859000000000000001"
    assert sent["max_results"] == "100"
    assert sent["expansions"] == "author_id"
    fields = set(sent["tweet.fields"].split(","))
    assert {"entities", "referenced_tweets", "created_at", "author_id"} <= fields
    assert "pagination_token" not in sent
    signed = authorization(mocked.calls[0])
    assert signed.startswith("OAuth ")
    assert 'oauth_consumer_key="ck"' in signed
    assert 'oauth_token="at"' in signed


def test_first_poll_sends_no_since_id(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """With no since_id yet, the request leaves the parameter out rather than sending 'None'."""
    mocked.get(MENTIONS_URL, json={"meta": {"result_count": 0}})

    x_api.mentions_since(None)

    assert "since_id" not in query(mocked.calls[0])


def test_every_request_has_a_timeout(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """The adapter gives requests a timeout, as tweepy passes none and would wait forever."""
    mocked.get(MENTIONS_URL, json={"meta": {"result_count": 0}})

    x_api.mentions_since(None)

    assert mocked.calls[0].request.req_kwargs["timeout"] == 30.0


def test_pages_follow_next_token_with_pagination_token(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """Pages chained by meta.next_token are all fetched, in X's order, each asked for by pagination_token."""
    mocked.add_callback(responses.GET, MENTIONS_URL, callback=by_pagination_token({
        None: page(post("1859000000000000006", f"@{BOT_HANDLE} #AmexMcDonalds", author="2001"),
                   post("1859000000000000005", f"@{BOT_HANDLE} #AmexMcDonalds", author="2002"),
                   next_token=TOKEN_2),
        TOKEN_2: page(
            post("1859000000000000004", f"@{BOT_HANDLE} #AmexStarbucks", author="2003"),
            post("1859000000000000003", f"@{BOT_HANDLE} #AmexStarbucks", author="2001"),
            next_token=TOKEN_3),
        TOKEN_3: page(
            post("1859000000000000002", f"@{BOT_HANDLE} #AmexShell", author="2002")),
    }))

    pages = x_api.mentions_since("1859000000000000001")

    assert [p.newest_id for p in pages] == ["1859000000000000006", "1859000000000000004",
                                            "1859000000000000002"]
    assert [[m.post_id[-1] for m in p.mentions] for p in pages] == [["6", "5"], ["4", "3"], ["2"]]
    assert [query(c).get("pagination_token") for c in mocked.calls] == [None, TOKEN_2, TOKEN_3]
    assert {query(c)["since_id"] for c in mocked.calls} == {"1859000000000000001"}


def test_pagination_token_found_with_query_matcher(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """The second page is requested with exactly the next_token X gave, whatever else is in the query."""
    mocked.get(MENTIONS_URL, json=page(post("1859000000000000002", f"@{BOT_HANDLE} #AmexShell")),
               match=[responses.matchers.query_param_matcher({"pagination_token": "tok-2"},
                                                             strict_match=False)])
    mocked.get(MENTIONS_URL, json=page(post("1859000000000000003", f"@{BOT_HANDLE} #AmexShell"),
                                       next_token="tok-2"))

    pages = x_api.mentions_since(None)

    assert [p.newest_id for p in pages] == ["1859000000000000003", "1859000000000000002"]
    assert len(mocked.calls) == 2


def test_empty_result_is_one_empty_page(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """X's empty answer {"meta": {"result_count": 0}} is a single page with no mentions and no newest_id."""
    mocked.get(MENTIONS_URL, json={"meta": {"result_count": 0}})

    pages = x_api.mentions_since("1859000000000000001")

    assert pages == [MentionPage((), None)]


def test_retweet_is_marked(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """A post that references another as 'retweeted' is marked is_retweet."""
    original = "1858000000000000001"
    mocked.get(MENTIONS_URL, json=page(
        post("1859000000000000003", f"RT @carol: @{BOT_HANDLE} #AmexMcDonalds", author="2001",
             referenced=[{"type": "retweeted", "id": original}]),
        post("1859000000000000002", f"@{BOT_HANDLE} #AmexMcDonalds", author="2002",
             referenced=[{"type": "replied_to", "id": original}]),
    ))

    retweet, reply = x_api.mentions_since(None)[0].mentions

    assert retweet.is_retweet
    assert not reply.is_retweet


def test_post_without_entities_falls_back_to_text(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """With no entities in the post, hashtags are parsed from its text."""
    mocked.get(MENTIONS_URL, json=page(
        post("1859000000000000002", f"@{BOT_HANDLE} #AmexMcDonalds and #AmexShell!", entities=False)))

    (only,) = x_api.mentions_since(None)[0].mentions

    assert only.hashtags == ("amexmcdonalds", "amexshell")


@pytest.mark.parametrize(("typed", "key"), [
    ("AmexMcDonalds", "amexmcdonalds"),
    ("AMEXMCDONALDS", "amexmcdonalds"),
    ("ＡｍｅｘＭｃＤｏｎａｌｄｓ", "amexmcdonalds"),
    ("AmexStraße", "amexstrasse"),
])
@pytest.mark.parametrize("entities", [True, False], ids=["entities", "text"])
def test_odd_hashtags_normalise(mocked: responses.RequestsMock, x_api: XApi, typed: str, key: str,
                                entities: bool) -> None:
    """Fullwidth and odd-case hashtags become one NFKC, casefolded key, from entities or text."""
    mocked.get(MENTIONS_URL, json=page(
        post("1859000000000000002", f"@{BOT_HANDLE} ＃{typed} please", entities=entities)))

    (only,) = x_api.mentions_since(None)[0].mentions

    assert only.hashtags == (key,)


# --- rate limits ------------------------------------------------------------------------------

def test_429_with_reset_blocks_the_endpoint_until_then(
        mocked: responses.RequestsMock, x_api: XApi, clock: FixedClock) -> None:
    """A 429 raises RateLimited until x-rate-limit-reset; calls before then send nothing; after, they go."""
    reset = START + timedelta(minutes=15)
    mocked.get(MENTIONS_URL, status=429, headers={"x-rate-limit-reset": unix(reset)},
               json=problem(429, "Too Many Requests", "Too Many Requests"))

    with pytest.raises(RateLimited) as first:
        x_api.mentions_since(None)
    assert reset <= first.value.reset_at <= reset + timedelta(seconds=1)
    assert len(mocked.calls) == 1

    clock.advance(minutes=10)
    with pytest.raises(RateLimited) as second:
        x_api.mentions_since(None)
    assert second.value.reset_at == first.value.reset_at
    assert len(mocked.calls) == 1

    mocked.replace(responses.GET, MENTIONS_URL, json={"meta": {"result_count": 0}})
    clock.advance(minutes=5, seconds=2)
    assert x_api.mentions_since(None) == [MentionPage((), None)]
    assert len(mocked.calls) == 2


def test_429_without_reset_waits_a_window(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """A 429 without x-rate-limit-reset blocks the endpoint for X's 15-minute window."""
    mocked.get(MENTIONS_URL, status=429, json=problem(429, "Too Many Requests", "Too Many Requests"))

    with pytest.raises(RateLimited) as caught:
        x_api.mentions_since(None)

    assert caught.value.reset_at == START + timedelta(minutes=15)


def test_rate_limit_on_mentions_does_not_block_replies(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """Rate limits are per endpoint: a 429 on mentions leaves POST /2/tweets open."""
    mocked.get(MENTIONS_URL, status=429, headers={"x-rate-limit-reset": unix(START + timedelta(minutes=15))},
               json=problem(429, "Too Many Requests", "Too Many Requests"))
    mocked.post(TWEETS_URL, status=201, json=created("Enrolled!"))

    with pytest.raises(RateLimited):
        x_api.mentions_since(None)

    assert x_api.reply("Enrolled!", "1859000000000000002") == NEW_REPLY_ID


# --- retries ----------------------------------------------------------------------------------

def test_server_error_then_success_retries_once(
        mocked: responses.RequestsMock, x_api: XApi, sleeps: list[float]) -> None:
    """A 503 followed by a 200 succeeds after one recorded back-off sleep."""
    mocked.get(MENTIONS_URL, status=503, json=problem(503, "Service Unavailable", "Service Unavailable"))
    mocked.get(MENTIONS_URL, json=page(post("1859000000000000002", f"@{BOT_HANDLE} #AmexShell")))

    pages = x_api.mentions_since(None)

    assert pages[0].newest_id == "1859000000000000002"
    assert len(mocked.calls) == 2
    assert len(sleeps) == 1
    assert 1.0 <= sleeps[0] <= 1.25


@pytest.mark.parametrize("failure", [
    {"status": 503, "json": problem(503, "Service Unavailable", "Service Unavailable")},
    {"body": requests.exceptions.ConnectionError("Connection reset by peer")},
    {"body": requests.exceptions.Timeout("Read timed out. (read timeout=30.0)")},
], ids=["503", "connection-error", "timeout"])
def test_persistent_failure_gives_up_after_retries(
        mocked: responses.RequestsMock, x_api: XApi, sleeps: list[float], failure: dict[str, Any]) -> None:
    """A failure that persists is tried 4 times with 3 growing sleeps, then raises TransientApiError."""
    mocked.get(MENTIONS_URL, **failure)

    with pytest.raises(TransientApiError, match="failed 4 times"):
        x_api.mentions_since(None)

    assert len(mocked.calls) == 4
    assert len(sleeps) == 3
    for attempt, slept in enumerate(sleeps):
        assert 2 ** attempt <= slept <= 2 ** attempt * 1.25


@pytest.mark.parametrize("failure", [
    {"body": requests.exceptions.ConnectionError("Connection refused")},
    {"body": requests.exceptions.Timeout("Read timed out.")},
], ids=["connection-error", "timeout"])
def test_network_failure_then_success(
        mocked: responses.RequestsMock, x_api: XApi, sleeps: list[float], failure: dict[str, Any]) -> None:
    """A connection error or timeout is retried like a 5xx and the next answer is used."""
    mocked.get(MENTIONS_URL, **failure)
    mocked.get(MENTIONS_URL, json={"meta": {"result_count": 0}})

    assert x_api.mentions_since(None) == [MentionPage((), None)]
    assert len(sleeps) == 1


def test_connection_broken_mid_body_is_transient(
        mocked: responses.RequestsMock, x_api: XApi, sleeps: list[float]) -> None:
    """A connection dropped mid-body (ChunkedEncodingError) is retried, then raises TransientApiError."""
    mocked.get(MENTIONS_URL, body=requests.exceptions.ChunkedEncodingError(
        "('Connection broken: IncompleteRead(0 bytes read)', IncompleteRead(0 bytes read))"))

    with pytest.raises(TransientApiError):
        x_api.mentions_since(None)

    assert len(mocked.calls) == 4
    assert len(sleeps) == 3


def test_non_json_success_body_is_an_api_error(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """A 200 whose body is not JSON (a proxy's HTML page) raises the bot's ApiError, not a requests error."""
    mocked.get(MENTIONS_URL, status=200, content_type="text/html",
               body="<html><body>Service temporarily unavailable</body></html>")

    with pytest.raises(ApiError):
        x_api.mentions_since(None)


def test_unregistered_url_never_reaches_the_network(
        mocked: responses.RequestsMock, x_api: XApi, sleeps: list[float]) -> None:
    """With nothing mocked, the mock refuses the connection and the adapter reports a transient failure."""
    with pytest.raises(TransientApiError):
        x_api.reply("Enrolled!", "1859000000000000002")

    assert len(mocked.calls) == 4
    assert len(sleeps) == 3


# --- authentication and refusals on mentions --------------------------------------------------

def test_401_is_auth_error_pointing_at_env_keys(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """A 401 raises AuthError telling the operator to check the X_* keys in .env."""
    mocked.get(MENTIONS_URL, status=401, json=problem(401, "Unauthorized", "Unauthorized"))

    with pytest.raises(AuthError, match=r"X_\* keys in \.env"):
        x_api.mentions_since(None)

    assert len(mocked.calls) == 1


def test_403_on_mentions_is_auth_error(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """A 403 when reading mentions (e.g. client-not-enrolled) is an AuthError, not retried."""
    mocked.get(MENTIONS_URL, status=403, json={
        "client_id": "29000000", "required_enrollment": "Appropriate Level of API Access",
        "registration_url": "https://developer.x.com/en/portal/product",
        "title": "Client Forbidden", "status": 403, "reason": "client-not-enrolled",
        "type": "https://api.twitter.com/2/problems/client-forbidden",
        "detail": "This request must be made using an approved developer account that is enrolled in the "
                  "requested endpoint (client-not-enrolled).",
    })

    with pytest.raises(AuthError, match="403"):
        x_api.mentions_since(None)

    assert len(mocked.calls) == 1


# --- replying ---------------------------------------------------------------------------------

def test_reply_posts_text_and_reply_target(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """reply() POSTs {"text", "reply": {"in_reply_to_tweet_id"}} signed OAuth 1.0a and returns the new id."""
    text = "@alice You're enrolled in #AmexMcDonalds: spend $5, get $5 back by 31 Jan 2027."
    mocked.post(TWEETS_URL, status=201, json=created(text))

    new_id = x_api.reply(text, "1859000000000000002")

    assert new_id == NEW_REPLY_ID
    assert len(mocked.calls) == 1
    request = mocked.calls[0].request
    assert json.loads(request.body) == {"text": text,
                                        "reply": {"in_reply_to_tweet_id": "1859000000000000002"}}
    assert authorization(mocked.calls[0]).startswith("OAuth ")


@pytest.mark.parametrize(("status", "body", "error"), [
    (403, DUPLICATE, DuplicateContent),
    (403, problem(403, "Forbidden", NOT_ENGAGED), ReplyNotAllowed),
    (403, problem(403, "Forbidden", "Your client app is not configured with the appropriate oauth1 app "
                                    "permissions for this endpoint."), AuthError),
    (401, problem(401, "Unauthorized", "Unauthorized"), AuthError),
], ids=["duplicate", "not-engaged", "oauth1-permissions", "401"])
def test_reply_refusals_are_translated(mocked: responses.RequestsMock, x_api: XApi, sleeps: list[float],
                                       status: int, body: dict[str, Any], error: type[Exception]) -> None:
    """Each kind of refusal of a reply becomes its own bot error, without retrying."""
    mocked.post(TWEETS_URL, status=status, json=body)

    with pytest.raises(error):
        x_api.reply("Enrolled!", "1859000000000000002")

    assert len(mocked.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize(("status", "body"), [
    (403, problem(403, "Forbidden", "You are not permitted to perform this action.")),
    (400, {"errors": [{"parameters": {"reply.in_reply_to_tweet_id": ["x"]},
                       "message": "The `reply.in_reply_to_tweet_id` query parameter value [x] is not valid"}],
           "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
           "type": "https://api.twitter.com/2/problems/invalid-request"}),
    (400, problem(400, "Bad Request", "Bad Request")),
], ids=["403-not-permitted", "400-invalid-request", "400-problem"])
def test_other_reply_refusals_are_permanent_not_auth(
        mocked: responses.RequestsMock, x_api: XApi, status: int, body: dict[str, Any]) -> None:
    """Any other 403 or a 400 on a reply is a PermanentApiError, but not an AuthError or duplicate."""
    mocked.post(TWEETS_URL, status=status, json=body)

    with pytest.raises(PermanentApiError) as caught:
        x_api.reply("Enrolled!", "1859000000000000002")

    assert not isinstance(caught.value, AuthError | DuplicateContent | ReplyNotAllowed)
    assert str(status) in str(caught.value)


def test_reply_server_error_is_retried(
        mocked: responses.RequestsMock, x_api: XApi, sleeps: list[float]) -> None:
    """A 503 on POST /2/tweets is retried and the next 201 is used."""
    mocked.post(TWEETS_URL, status=503, json=problem(503, "Service Unavailable", "Service Unavailable"))
    mocked.post(TWEETS_URL, status=201, json=created("Enrolled!"))

    assert x_api.reply("Enrolled!", "1859000000000000002") == NEW_REPLY_ID
    assert len(sleeps) == 1


@pytest.mark.parametrize("entities", [True, False], ids=["entities", "text"])
def test_hashtags_keep_the_form_the_member_typed(mocked: responses.RequestsMock, x_api: XApi,
                                                 entities: bool) -> None:
    """Next to each key, the mention keeps the hashtag as typed (first form of each key), for quoting back."""
    mocked.get(MENTIONS_URL, json=page(
        post("1859000000000000002", f"@{BOT_HANDLE} #FridayVibes #AmexMcDonals #fridayvibes",
             entities=entities)))

    (only,) = x_api.mentions_since(None)[0].mentions

    assert only.hashtags == ("fridayvibes", "amexmcdonals")
    assert only.typed_hashtags == ("FridayVibes", "AmexMcDonals")
    assert only.typed("amexmcdonals") == "AmexMcDonals"


# --- direct messages --------------------------------------------------------------------------

MEMBER = "2001"
DM_URL = f"https://api.twitter.com/2/dm_conversations/with/{MEMBER}/messages"
DM_EVENTS_URL = f"https://api.twitter.com/2/dm_conversations/with/{MEMBER}/dm_events"
DM_EVENT_ID = "1582103724607971332"
DM_SENT = {"data": {"dm_conversation_id": f"{MEMBER}-{BOT_ID}", "dm_event_id": DM_EVENT_ID}}
NOTICE = "Good news: your $5.00 statement credit from McDonald's (#AmexMcDonalds) is on its way. Ref ABC234"


def test_a_direct_message_posts_the_text_to_the_member_and_returns_the_event_id(
        mocked: responses.RequestsMock, x_api: XApi) -> None:
    """direct_message() POSTs {"text"} to /2/dm_conversations/with/:participant_id/messages, OAuth 1.0a."""
    mocked.post(DM_URL, status=201, json=DM_SENT)

    assert x_api.direct_message(MEMBER, NOTICE) == DM_EVENT_ID
    assert json.loads(mocked.calls[0].request.body) == {"text": NOTICE}
    assert authorization(mocked.calls[0]).startswith("OAuth ")


@pytest.mark.parametrize("body", [
    {"errors": [{"code": 349, "message": "You cannot send messages to this user."}]},
    {"errors": [{"code": 150, "message": "You cannot send messages to users who are not following you."}]},
    {"errors": [{"code": 476, "message": "Sender is not verified to send message requests"}]},
    problem(403, "Forbidden", "You cannot send messages to this user."),
    problem(403, "Forbidden", "Forbidden"),
], ids=["349-cannot-send", "150-not-following", "476-message-requests", "problem-cannot-send", "forbidden"])
def test_a_dm_the_member_does_not_accept_is_not_allowed_and_not_retried(
        mocked: responses.RequestsMock, x_api: XApi, sleeps: list[float], body: dict[str, Any]) -> None:
    """A 403 on the DM endpoint that is about the member (their DM settings, a block) is DmNotAllowed."""
    mocked.post(DM_URL, status=403, json=body)

    with pytest.raises(DmNotAllowed, match="must allow DMs from the bot"):
        x_api.direct_message(MEMBER, NOTICE)

    assert len(mocked.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize(("status", "body", "error"), [
    (403, problem(403, "Forbidden", "Your client app is not configured with the appropriate oauth1 app "
                                    "permissions for this endpoint."), AuthError),
    (403, {"client_id": "29000000", "title": "Client Forbidden", "status": 403,
           "reason": "client-not-enrolled",
           "type": "https://api.twitter.com/2/problems/client-forbidden",
           "detail": "This request must be made using an approved developer account that is enrolled in the "
                     "requested endpoint (client-not-enrolled)."}, AuthError),
    (401, problem(401, "Unauthorized", "Unauthorized"), AuthError),
    (400, {"errors": [{"parameters": {"participant_id": ["x"]},
                       "message": "The `participant_id` query parameter value [x] is not valid"}],
           "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
           "type": "https://api.twitter.com/2/problems/invalid-request"}, PermanentApiError),
], ids=["oauth1-permissions", "client-not-enrolled", "401", "400-invalid-request"])
def test_other_dm_refusals_name_the_app_or_the_request(
        mocked: responses.RequestsMock, x_api: XApi, status: int, body: dict[str, Any],
        error: type[Exception]) -> None:
    """An app without DM permission is an AuthError (every DM would fail); a bad request is permanent."""
    mocked.post(DM_URL, status=status, json=body)

    with pytest.raises(error) as caught:
        x_api.direct_message(MEMBER, NOTICE)

    assert not isinstance(caught.value, DmNotAllowed)
    if status == 403:
        assert "Read, write and Direct Messages" in str(caught.value)


def test_a_dm_rate_limit_holds_dms_only(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """A 429 on the DM endpoint blocks DMs until its reset, while replies still go out."""
    reset = START + timedelta(minutes=15)
    mocked.post(DM_URL, status=429, headers={"x-rate-limit-reset": unix(reset)},
                json=problem(429, "Too Many Requests", "Too Many Requests"))
    mocked.post(TWEETS_URL, status=201, json=created("Enrolled!"))

    with pytest.raises(RateLimited) as first:
        x_api.direct_message(MEMBER, NOTICE)
    with pytest.raises(RateLimited):
        x_api.direct_message(MEMBER, NOTICE)

    assert reset <= first.value.reset_at <= reset + timedelta(seconds=1)
    assert len([c for c in mocked.calls if "dm_conversations" in c.request.url]) == 1
    assert x_api.reply("Enrolled!", "1859000000000000002") == NEW_REPLY_ID


def test_a_dm_server_error_is_retried(mocked: responses.RequestsMock, x_api: XApi,
                                      sleeps: list[float]) -> None:
    """A 503 on the DM endpoint is retried with backoff and the next 201 is used."""
    mocked.post(DM_URL, status=503, json=problem(503, "Service Unavailable", "Service Unavailable"))
    mocked.post(DM_URL, status=201, json=DM_SENT)

    assert x_api.direct_message(MEMBER, NOTICE) == DM_EVENT_ID
    assert len(sleeps) == 1


def test_find_direct_message_looks_for_the_bots_own_dm_with_that_text(
        mocked: responses.RequestsMock, x_api: XApi) -> None:
    """find_direct_message() reads the recent MessageCreate events, matching the sender and the text."""
    mocked.get(DM_EVENTS_URL, json={"data": [
        {"id": "1582838499983564807", "event_type": "MessageCreate", "text": NOTICE, "sender_id": MEMBER,
         "dm_conversation_id": f"{MEMBER}-{BOT_ID}", "created_at": "2026-11-23T11:58:00.000Z"},
        {"id": "1582838499983564806", "event_type": "MessageCreate", "text": NOTICE, "sender_id": BOT_ID,
         "dm_conversation_id": f"{MEMBER}-{BOT_ID}", "created_at": "2026-11-23T11:57:00.000Z"},
    ], "meta": {"result_count": 2}})

    assert x_api.find_direct_message(MEMBER, NOTICE) == "1582838499983564806"
    assert x_api.find_direct_message(MEMBER, "another text") is None
    sent = query(mocked.calls[0])
    assert sent["event_types"] == "MessageCreate"
    assert {"text", "sender_id"} <= set(sent["dm_event.fields"].split(","))


def test_find_direct_message_in_an_empty_conversation(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """With no events, X answers {"meta": {"result_count": 0}}: nothing was sent."""
    mocked.get(DM_EVENTS_URL, json={"meta": {"result_count": 0}})

    assert x_api.find_direct_message(MEMBER, NOTICE) is None


def test_an_edit_carries_the_id_of_the_post_it_edits(mocked: responses.RequestsMock, x_api: XApi) -> None:
    """edit_history_tweet_ids (asked for in tweet.fields) names the original first: the interaction."""
    edited = post("1859000000000000009", f"@{BOT_HANDLE} #AmexMcDonalds #AmexZappos")
    edited["edit_history_tweet_ids"] = ["1859000000000000004", "1859000000000000009"]
    mocked.get(MENTIONS_URL, json=page(edited, post("1859000000000000005", f"@{BOT_HANDLE} #AmexShell")))

    edit, original = x_api.mentions_since(None)[0].mentions

    assert (edit.interaction, edit.interaction != edit.post_id) == ("1859000000000000004", True)  # an edit
    assert (original.interaction, original.interaction != original.post_id) == (
        "1859000000000000005", False)  # not an edit
    assert "edit_history_tweet_ids" in query(mocked.calls[0])["tweet.fields"].split(",")
