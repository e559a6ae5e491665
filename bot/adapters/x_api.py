"""The X API through tweepy: the only module that imports tweepy, and the one place its
errors become the bot's own."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter

from bot.adapters.x_ids import remember_x_ids
from bot.adapters.x_payload import page_from_body
from bot.clock import Clock
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

logger = logging.getLogger(__name__)
MENTIONS, CREATE = "GET /2/users/:id/mentions", "POST /2/tweets"
DM_CREATE = "POST /2/dm_conversations/with/:participant_id/messages"
DM_EVENTS = "GET /2/dm_conversations/with/:participant_id/dm_events"
DM_LOOKBACK = 50  # recent events of a conversation searched for a DM that may have gone out
TWEET_FIELDS = ["author_id", "created_at", "entities", "referenced_tweets", "conversation_id",
                "edit_history_tweet_ids"]
DEFAULT_WINDOW = timedelta(minutes=15)  # X's rate-limit window, used when 429 has no reset
# Failures of the connection or of a half-read body (a proxy's HTML page for JSON included):
# worth another try, unlike an answer from X itself.
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              requests.JSONDecodeError)
MAX_PAGES = 100  # X keeps at most 800 mentions; this only guards against a runaway token chain


class _TimeoutAdapter(HTTPAdapter):
    """tweepy passes no timeout to requests, which would otherwise wait forever."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["timeout"] = kwargs.get("timeout") or self._timeout
        return super().send(request, **kwargs)


class XApi:
    """Mentions in, replies and DMs out, through ``tweepy.Client`` (OAuth 1.0a user context)."""

    def __init__(self, client: tweepy.Client, bot_user_id: str, *, clock: Clock,
                 sleep: Callable[[float], None] = time.sleep, retries: int = 3,
                 backoff: float = 1.0, page_size: int = 100, max_pages: int = MAX_PAGES) -> None:
        self._client = client
        self._user_id = bot_user_id
        self._clock = clock
        self._sleep = sleep
        self._retries = retries
        self._backoff = backoff
        self._page_size = page_size
        self._max_pages = max_pages
        self._blocked_until: dict[str, datetime] = {}
        remember_x_ids(bot_user_id)

    @classmethod
    def from_credentials(cls, creds: XCredentials, bot_user_id: str, *, clock: Clock,
                         timeout: float = 30.0, **kwargs: Any) -> XApi:
        """Build a client for the bot's account; ``return_type=dict`` keeps X's own JSON."""
        client = tweepy.Client(
            consumer_key=creds.consumer_key, consumer_secret=creds.consumer_secret,
            access_token=creds.access_token, access_token_secret=creds.access_token_secret,
            return_type=dict, wait_on_rate_limit=False)
        client.session.mount("https://", _TimeoutAdapter(timeout))
        return cls(client, bot_user_id, clock=clock, **kwargs)

    def describe(self) -> str:
        """Say where posts come from and go to."""
        return f"X API (api.twitter.com) as user id {self._user_id}"

    def mentions_since(self, since_id: str | None) -> list[MentionPage]:
        """Return every page of mentions newer than ``since_id``, newest page first."""
        pages: list[MentionPage] = []
        token: str | None = None
        for _ in range(self._max_pages):
            body = self._call(MENTIONS, self._client.get_users_mentions, self._user_id,
                              since_id=since_id, pagination_token=token,
                              max_results=self._page_size, expansions=["author_id"],
                              tweet_fields=TWEET_FIELDS, user_fields=["username"], user_auth=True)
            pages.append(page_from_body(body))
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                break
        return pages

    def reply(self, text: str, in_reply_to: str) -> str:
        """Post ``text`` as a reply to ``in_reply_to`` and return the new post's id."""
        body = self._call(CREATE, self._client.create_tweet, text=text,
                          in_reply_to_tweet_id=in_reply_to, user_auth=True)
        post_id = str(body["data"]["id"])
        remember_x_ids(post_id)
        return post_id

    def direct_message(self, user_id: str, text: str) -> str:
        """Send ``text`` to ``user_id`` as a direct message and return the DM event's id."""
        body = self._call(DM_CREATE, self._client.create_direct_message, participant_id=user_id,
                          text=text, user_auth=True)
        event_id = str(body["data"]["dm_event_id"])
        remember_x_ids(event_id, user_id)
        return event_id

    def find_direct_message(self, user_id: str, text: str) -> str | None:
        """Return the id of a recent DM from the bot to ``user_id`` with exactly ``text``, if any.

        X has no duplicate check for DMs that can be relied on: before sending one again after
        an attempt whose outcome is unknown, the sender asks here whether it went out.
        """
        body = self._call(DM_EVENTS, self._client.get_direct_message_events, participant_id=user_id,
                          event_types="MessageCreate", max_results=DM_LOOKBACK, user_auth=True,
                          dm_event_fields=["id", "text", "sender_id", "created_at"])
        for event in body.get("data") or ():
            if str(event.get("sender_id")) == self._user_id and event.get("text") == text:
                return str(event["id"])
        return None

    def _call(self, endpoint: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``method``, retrying server errors and timeouts, translating every failure."""
        blocked = self._blocked_until.get(endpoint)
        if blocked is not None and self._clock() < blocked:
            raise RateLimited(endpoint, blocked)
        attempt = 0
        while True:
            try:
                return method(*args, **kwargs)
            except tweepy.TooManyRequests as exc:
                reset = self._reset_time(exc)
                self._blocked_until[endpoint] = reset
                logger.warning("%s rate limited until %s", endpoint, reset.isoformat())
                raise RateLimited(endpoint, reset) from exc
            except (tweepy.TwitterServerError, *_TRANSIENT) as exc:
                attempt += 1
                if attempt > self._retries:
                    raise TransientApiError(f"{endpoint} failed {attempt} times: {_describe(exc)}") from exc
                delay = self._backoff * 2 ** (attempt - 1) * (1 + random.random() / 4)
                logger.warning("%s failed (%s); retry %d in %.1fs", endpoint, _describe(exc), attempt, delay)
                self._sleep(delay)
            except tweepy.HTTPException as exc:
                raise _translate(endpoint, exc) from exc
            except (tweepy.TweepyException, requests.RequestException) as exc:
                raise ApiError(f"{endpoint}: {_describe(exc)}") from exc

    def _reset_time(self, exc: tweepy.TooManyRequests) -> datetime:
        now = self._clock()
        reset = getattr(exc, "reset_time", None)
        if reset is None:
            header = exc.response.headers.get("x-rate-limit-reset")
            reset = int(header) if header and header.isdigit() else None
        if reset is None:
            return now + DEFAULT_WINDOW
        # One second past the reset, as X's clock and ours may disagree slightly.
        return max(datetime.fromtimestamp(int(reset), UTC) + timedelta(seconds=1), now)


def _describe(exc: Exception) -> str:
    if isinstance(exc, tweepy.HTTPException):
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def _translate(endpoint: str, exc: tweepy.HTTPException) -> ApiError:
    """Map an X HTTP error to the bot's error, with what to do about it."""
    status = exc.response.status_code
    detail = "; ".join(str(m) for m in exc.api_messages) or exc.response.reason or ""
    lowered = detail.lower()
    if status == 401:
        return AuthError(f"{endpoint}: X rejected the credentials (401 {detail}). Check the X_* "
                         "keys in .env and that the app has read and write access")
    if status == 403 and "duplicate content" in lowered:
        return DuplicateContent(f"{endpoint}: X already has this post (403 duplicate content)")
    if endpoint in (DM_CREATE, DM_EVENTS):
        return _translate_dm(endpoint, status, detail, f"{lowered} {exc.response.text.lower()}")
    if status == 403 and ("reply to this conversation is not allowed" in lowered
                          or "not been mentioned" in lowered):
        return ReplyNotAllowed(f"{endpoint}: X does not allow this reply (403 {detail})")
    # On posting, a 403 is usually about that one post; but a problem naming the app's access
    # (client-not-enrolled, client-forbidden, oauth permissions) would refuse every post.
    access = ("permission", "oauth", "client-not-enrolled", "client-forbidden")
    body = f"{lowered} {exc.response.text.lower()}"
    if status == 403 and (endpoint != CREATE or any(word in body for word in access)):
        return AuthError(f"{endpoint}: X refused the request (403 {detail}). Check the app's "
                         "access level and read-and-write permission in the X developer portal")
    if status == 403:
        return PermanentApiError(f"{endpoint}: X refused this reply (403 {detail})")
    return PermanentApiError(f"{endpoint}: HTTP {status} {detail}")


def _translate_dm(endpoint: str, status: int, detail: str, body: str) -> ApiError:
    """Map an error of the DM endpoints: a 403 is about the member, unless it names the app's access.

    A member who does not accept DMs from the bot (their DM settings, a block, X's own limits on
    message requests) gets none: the notice is undeliverable, never a public post instead.
    """
    app = ("oauth", "app permission", "client-not-enrolled", "client-forbidden", "dm.write", "dm.read")
    if status == 403 and any(word in body for word in app):
        return AuthError(f"{endpoint}: X refused the request (403 {detail}). Give the app \"Read, write "
                         "and Direct Messages\" permission in the X developer portal, then generate the "
                         "access token and secret again")
    if status == 403:
        return DmNotAllowed(f"{endpoint}: X refused the direct message (403 {detail}); the member "
                            "must allow DMs from the bot")
    return PermanentApiError(f"{endpoint}: HTTP {status} {detail}")
