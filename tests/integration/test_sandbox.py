"""SandboxApi: mentions read from a JSON-lines file, replies appended to another, like X would."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.sandbox import SandboxApi
from bot.errors import DuplicateContent
from tests.fakes import FixedClock

FIRST_REPLY_ID = "900000000000000001"


# --- builders ---------------------------------------------------------------------------------

def line(text: str, *, post_id: str | int | None = None, author: str | None = "2001",
         **extra: Any) -> dict[str, Any]:
    """One mentions-file post object; leave out post_id or author to leave the field out."""
    found: dict[str, Any] = {}
    if post_id is not None:
        found["id"] = post_id
    if author is not None:
        found["author_id"] = author
    found["text"] = text
    found.update(extra)
    return found


def write_lines(path: Path, *lines: dict[str, Any] | str) -> None:
    """Write a JSON-lines file; a str is written as it is (for broken lines)."""
    path.write_text("".join((item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)) + "\n"
                            for item in lines), encoding="utf-8")


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file."""
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines() if text.strip()]


def ids(pages: list[Any]) -> list[list[str]]:
    """The post ids of each page."""
    return [[m.post_id for m in page.mentions] for page in pages]


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture
def mentions_file(tmp_path: Path) -> Path:
    return tmp_path / "mentions.jsonl"


@pytest.fixture
def replies_file(tmp_path: Path) -> Path:
    return tmp_path / "replies.jsonl"


@pytest.fixture
def sandbox(mentions_file: Path, replies_file: Path, clock: FixedClock) -> SandboxApi:
    return SandboxApi(mentions_file, replies_file, clock=clock, page_size=2)


# --- reading mentions -------------------------------------------------------------------------

def test_missing_ids_follow_the_largest_id_so_far(
        mentions_file: Path, replies_file: Path, clock: FixedClock) -> None:
    """A line without an id gets the largest id above it plus one; explicit ids are kept."""
    write_lines(mentions_file,
                line("@OfferBot #AmexMcDonalds"),                 # nothing above: 1
                line("@OfferBot #AmexShell", post_id="100"),
                line("@OfferBot #AmexShell", post_id=50),          # a JSON number is fine too
                line("@OfferBot #AmexStarbucks"),                  # largest so far is 100: 101
                line("@OfferBot #AmexStarbucks"))                  # 102

    pages = SandboxApi(mentions_file, replies_file, clock=clock, page_size=10).mentions_since(None)

    assert ids(pages) == [["102", "101", "100", "50", "1"]]


def test_mentions_are_parsed_like_x_posts(sandbox: SandboxApi, mentions_file: Path) -> None:
    """Each line becomes a Mention: hashtag keys, author, aware created_at, retweet flag."""
    write_lines(mentions_file,
                line("@OfferBot ＃AmexMcDonalds please", post_id="10", author="2002",
                     created_at="2026-11-23T11:59:00.000Z"),
                line("RT @carol: @OfferBot #AmexShell", post_id="11",
                     referenced_tweets=[{"type": "retweeted", "id": "9"}]))

    (page,) = sandbox.mentions_since(None)

    retweet, first = page.mentions
    assert (first.post_id, first.author_id, first.hashtags) == ("10", "2002", ("amexmcdonalds",))
    assert first.created_at == datetime(2026, 11, 23, 11, 59, tzinfo=UTC)
    assert not first.is_retweet
    assert retweet.is_retweet
    assert retweet.created_at is None


def test_broken_lines_are_skipped_with_file_and_line(
        sandbox: SandboxApi, mentions_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Non-JSON lines, non-objects, bad ids and posts without author_id are skipped, warned as file:line."""
    write_lines(mentions_file,
                line("@OfferBot #AmexMcDonalds", post_id="1"),
                '{"id": "2", "author_id": "2001", "text": "half a line',
                line("@OfferBot #AmexShell", post_id="3", author=None),
                '["not", "an", "object"]',
                line("@OfferBot #AmexShell", post_id="abc"),
                "",
                line("@OfferBot #AmexStarbucks", post_id="7"))

    with caplog.at_level(logging.WARNING, logger="bot.adapters.sandbox"):
        pages = sandbox.mentions_since(None)

    assert ids(pages) == [["7", "1"]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4
    for number, why in ((2, "not JSON"), (3, "author_id"), (4, "not a JSON object"), (5, "not numeric")):
        assert any(f"{mentions_file}:{number}:" in w and why in w for w in warnings), (number, warnings)


def test_since_id_keeps_only_newer_posts(sandbox: SandboxApi, mentions_file: Path) -> None:
    """Only posts with an id above since_id are returned, compared as numbers, not strings."""
    write_lines(mentions_file, *(line(f"@OfferBot #AmexShell {n}", post_id=str(n)) for n in (8, 9, 10, 11)))

    assert ids(sandbox.mentions_since("9")) == [["11", "10"]]
    assert sandbox.mentions_since("11") == []


def test_pages_of_page_size_newest_first(sandbox: SandboxApi, mentions_file: Path) -> None:
    """Posts come in pages of page_size, newest first, each page with its newest id."""
    write_lines(mentions_file, *(line(f"@OfferBot #AmexShell {n}", post_id=str(n)) for n in (3, 1, 5, 2, 4)))

    pages = sandbox.mentions_since(None)

    assert ids(pages) == [["5", "4"], ["3", "2"], ["1"]]
    assert [p.newest_id for p in pages] == ["5", "3", "1"]


@pytest.mark.parametrize("content", [None, "", "\n\n"], ids=["missing", "empty", "blank-lines"])
def test_no_mentions_means_no_pages(sandbox: SandboxApi, mentions_file: Path, content: str | None) -> None:
    """A missing, empty or blank mentions file gives no pages."""
    if content is not None:
        mentions_file.write_text(content, encoding="utf-8")

    assert sandbox.mentions_since(None) == []


# --- replying ---------------------------------------------------------------------------------

def test_reply_appends_a_json_line_and_returns_its_id(sandbox: SandboxApi, replies_file: Path) -> None:
    """reply() appends {id, text, in_reply_to_tweet_id, created_at} and returns the new id."""
    first = sandbox.reply("@alice You're enrolled in #AmexMcDonalds ✅", "10")
    second = sandbox.reply("@bob You're enrolled in #AmexShell", "11")

    assert (first, second) == (FIRST_REPLY_ID, "900000000000000002")
    assert read_lines(replies_file) == [
        {"id": FIRST_REPLY_ID, "text": "@alice You're enrolled in #AmexMcDonalds ✅",
         "in_reply_to_tweet_id": "10", "created_at": "2026-11-23T12:00:00Z"},
        {"id": "900000000000000002", "text": "@bob You're enrolled in #AmexShell",
         "in_reply_to_tweet_id": "11", "created_at": "2026-11-23T12:00:00Z"},
    ]
    assert "✅" in replies_file.read_text(encoding="utf-8")


def test_identical_reply_is_refused_as_duplicate(sandbox: SandboxApi, replies_file: Path) -> None:
    """A reply whose text was already posted raises DuplicateContent and writes nothing, as X does."""
    sandbox.reply("@alice You're enrolled in #AmexMcDonalds", "10")

    with pytest.raises(DuplicateContent):
        sandbox.reply("@alice You're enrolled in #AmexMcDonalds", "12")

    assert len(read_lines(replies_file)) == 1


def test_reply_creates_missing_folders(tmp_path: Path, clock: FixedClock) -> None:
    """reply() creates the replies file and its folder when they do not exist yet."""
    replies = tmp_path / "out" / "replies.jsonl"
    sandbox = SandboxApi(tmp_path / "mentions.jsonl", replies, clock=clock)

    assert sandbox.reply("hello", "10") == FIRST_REPLY_ID
    assert replies.exists()


# --- files ------------------------------------------------------------------------------------

def test_ensure_files_creates_both_files(tmp_path: Path, clock: FixedClock) -> None:
    """ensure_files() creates both files, and their folders, empty."""
    mentions, replies = tmp_path / "in" / "mentions.jsonl", tmp_path / "out" / "replies.jsonl"

    SandboxApi(mentions, replies, clock=clock).ensure_files()

    assert mentions.read_text() == ""
    assert replies.read_text() == ""


def test_ensure_files_keeps_existing_content(sandbox: SandboxApi, mentions_file: Path) -> None:
    """ensure_files() leaves an existing mentions file as it is."""
    write_lines(mentions_file, line("@OfferBot #AmexShell", post_id="1"))

    sandbox.ensure_files()

    assert ids(sandbox.mentions_since(None)) == [["1"]]


def test_a_bad_line_is_warned_about_once_not_on_every_poll(
        sandbox: SandboxApi, mentions_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The same broken line is reported on the first poll only; once changed (still broken), again."""
    write_lines(mentions_file, line("@OfferBot #AmexShell", post_id="1"), '{"id": "2", "text": "half')

    with caplog.at_level(logging.WARNING, logger="bot.adapters.sandbox"):
        for _ in range(3):
            sandbox.mentions_since(None)
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
        write_lines(mentions_file, line("@OfferBot #AmexShell", post_id="1"), '{"id": "2", "text": "other')
        sandbox.mentions_since(None)
        sandbox.mentions_since(None)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all(f"{mentions_file}:2: skipped: not JSON" in w for w in warnings)


# --- direct messages --------------------------------------------------------------------------

def test_a_dm_is_appended_to_the_dms_file_and_found_again(sandbox: SandboxApi, tmp_path: Path) -> None:
    """direct_message() appends {id, participant_id, text, created_at} to dms.jsonl beside the replies."""
    first = sandbox.direct_message("2001", "Your credit is on its way. Ref ABC234")
    second = sandbox.direct_message("2002", "Your credit is on its way. Ref DEF567")

    assert (first, second) == ("800000000000000001", "800000000000000002")
    assert read_lines(tmp_path / "dms.jsonl") == [
        {"id": first, "participant_id": "2001", "text": "Your credit is on its way. Ref ABC234",
         "created_at": "2026-11-23T12:00:00Z"},
        {"id": second, "participant_id": "2002", "text": "Your credit is on its way. Ref DEF567",
         "created_at": "2026-11-23T12:00:00Z"},
    ]
    assert sandbox.find_direct_message("2001", "Your credit is on its way. Ref ABC234") == first
    assert sandbox.find_direct_message("2002", "Your credit is on its way. Ref ABC234") is None


def test_an_identical_dm_to_the_same_member_is_refused_as_duplicate(sandbox: SandboxApi,
                                                                    tmp_path: Path) -> None:
    """The same text twice in one conversation raises DuplicateContent and writes nothing more."""
    sandbox.direct_message("2001", "hello")

    with pytest.raises(DuplicateContent):
        sandbox.direct_message("2001", "hello")
    sandbox.direct_message("2002", "hello")  # another conversation

    assert len(read_lines(tmp_path / "dms.jsonl")) == 2


def test_the_dms_file_is_configurable_and_created_with_the_others(tmp_path: Path, clock: FixedClock) -> None:
    """A dms path given to the sandbox is where DMs go; ensure_files() creates it empty."""
    dms = tmp_path / "elsewhere" / "private.jsonl"
    sandbox = SandboxApi(tmp_path / "m.jsonl", tmp_path / "r.jsonl", clock=clock, dms=dms)

    sandbox.ensure_files()

    assert dms.read_text() == ""
    assert str(dms) in sandbox.describe()


def test_the_dms_file_is_readable_by_its_owner_only(sandbox: SandboxApi, tmp_path: Path) -> None:
    """Direct messages are private: the sandbox creates dms.jsonl with mode 0600."""
    sandbox.direct_message("2001", "Your credit is on its way. Ref ABC234")

    assert (tmp_path / "dms.jsonl").stat().st_mode & 0o777 == 0o600
