"""A local stand-in for X: mentions from a JSON-lines file, replies appended to another."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from bot.adapters.x_ids import remember_x_ids
from bot.adapters.x_payload import page_from_body
from bot.clock import Clock
from bot.domain.mentions import MentionPage
from bot.errors import DuplicateContent

logger = logging.getLogger(__name__)


class SandboxApi:
    """Behaves like the X adapter: ids, since_id, pages, duplicate-content refusals.

    Each line of the mentions file is one X v2 post object (id, text, author_id, and optionally
    created_at, entities, referenced_tweets, edit_history_tweet_ids). A line without an id gets
    the next number after the largest id above it, so a newcomer can append
    ``{"author_id": ..., "text": ...}``. Replies are appended to the replies file, direct
    messages to the DMs file (``dms``, by default dms.jsonl beside the replies).
    """

    def __init__(self, mentions: Path, replies: Path, *, clock: Clock, page_size: int = 100,
                 dms: Path | None = None) -> None:
        self._mentions = mentions
        self._replies = replies
        self._dms = dms or replies.with_name("dms.jsonl")
        self._clock = clock
        self._page_size = page_size
        # A bad line is reported once, not on every poll: (file, line number, its text).
        self._warned: set[tuple[str, int, str]] = set()

    def describe(self) -> str:
        """Say where posts come from and go to."""
        return (f"local sandbox: reading {self._mentions}, replying into {self._replies}, "
                f"direct messages into {self._dms}")

    def ensure_files(self) -> None:
        """Create empty sandbox files so a newcomer can append to them."""
        for path in (self._mentions, self._replies):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)
        self._dms.parent.mkdir(parents=True, exist_ok=True)
        self._dms.touch(mode=0o600, exist_ok=True)  # DMs are private: readable by the owner only

    def mentions_since(self, since_id: str | None) -> list[MentionPage]:
        """Return mentions newer than ``since_id`` in pages of up to page_size, newest first."""
        after = int(since_id) if since_id else -1
        posts = sorted((p for p in self._read_posts() if int(p["id"]) > after),
                       key=lambda p: int(p["id"]), reverse=True)
        pages = []
        for start in range(0, len(posts), self._page_size):
            chunk = posts[start:start + self._page_size]
            pages.append(page_from_body({"data": chunk, "meta": {"newest_id": chunk[0]["id"]}}))
        return pages

    def reply(self, text: str, in_reply_to: str) -> str:
        """Append a reply; refuse an exact repeat of an earlier one, as X does."""
        earlier = self._read_lines(self._replies)
        if any(r.get("text") == text for _, r in earlier):
            raise DuplicateContent("sandbox: an identical reply was already posted")
        post_id = str(max((int(r.get("id", 0)) for _, r in earlier), default=9 * 10**17) + 1)
        self._append(self._replies, {"id": post_id, "text": text, "in_reply_to_tweet_id": in_reply_to,
                                     "created_at": self._now()})
        return post_id

    def direct_message(self, user_id: str, text: str) -> str:
        """Append a DM to ``user_id``; refuse an exact repeat in the same conversation."""
        earlier = self._read_lines(self._dms)
        if self._found(earlier, user_id, text) is not None:
            raise DuplicateContent("sandbox: an identical direct message was already sent to this member")
        event_id = str(max((int(r.get("id", 0)) for _, r in earlier), default=8 * 10**17) + 1)
        self._append(self._dms, {"id": event_id, "participant_id": user_id, "text": text,
                                 "created_at": self._now()})
        return event_id

    def find_direct_message(self, user_id: str, text: str) -> str | None:
        """Return the id of a DM with exactly ``text`` already sent to ``user_id``, if any."""
        return self._found(self._read_lines(self._dms), user_id, text)

    @staticmethod
    def _found(lines: list[tuple[int, dict[str, Any]]], user_id: str, text: str) -> str | None:
        return next((str(d.get("id")) for _, d in lines
                     if str(d.get("participant_id")) == user_id and d.get("text") == text), None)

    def _now(self) -> str:
        return self._clock().isoformat().replace("+00:00", "Z")

    def _append(self, path: Path, line: dict[str, Any]) -> None:
        """Append one JSON line and make it durable, as X would have it once it answered."""
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = 0o600 if path == self._dms else 0o644  # DMs are private: readable by the owner only
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        remember_x_ids(line["id"])

    def _read_posts(self) -> list[dict[str, Any]]:
        posts: list[dict[str, Any]] = []
        largest = 0
        for number, post in self._read_lines(self._mentions):
            if "id" not in post:
                post["id"] = str(largest + 1)
            elif not str(post["id"]).isdigit():
                self._warn(self._mentions, number, post, f"id {post['id']!r} is not numeric")
                continue
            if not post.get("author_id") or "text" not in post:
                self._warn(self._mentions, number, post, "a post needs author_id and text")
                continue
            post["id"] = str(post["id"])
            largest = max(largest, int(post["id"]))
            posts.append(post)
        return posts


    def _read_lines(self, path: Path) -> list[tuple[int, dict[str, Any]]]:
        """Return (line number, object) for each JSON object line; report and skip the rest."""
        if not path.exists():
            return []
        found = []
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    self._warn(path, number, line, f"not JSON ({exc.msg})")
                    continue
                if isinstance(value, dict):
                    found.append((number, value))
                else:
                    self._warn(path, number, line, "not a JSON object")
        return found

    def _warn(self, path: Path, number: int, line: object, why: str) -> None:
        """Log a skipped line once; the same line changed is reported again."""
        key = (str(path), number, line if isinstance(line, str) else json.dumps(line, sort_keys=True))
        if key in self._warned:
            return
        if len(self._warned) >= 10_000:  # the file is the user's: keep the memory bounded
            self._warned.clear()
        self._warned.add(key)
        logger.warning("%s:%d: skipped: %s", path, number, why)
