"""Hashtags and mentions: one key per hashtag however typed, and what a post asks for."""

import pytest

from bot.domain.hashtags import hashtag_key, hashtags_in_text, keys_and_forms
from bot.domain.mentions import Command
from tests.fakes import mention


@pytest.mark.parametrize("typed", ["#AmexMcDonalds", "AmexMcDonalds", "＃ＡｍｅｘＭｃＤｏｎａｌｄｓ",
                                   "ＡｍｅｘＭｃＤｏｎａｌｄｓ", "AMEXMCDONALDS", "#amexmcdonalds",
                                   "  #AmexMcDonalds  "])
def test_hashtag_key_ignores_case_width_and_hash(typed: str) -> None:
    """Case, fullwidth forms, a leading '#' and surrounding spaces all give the same key."""
    assert hashtag_key(typed) == "amexmcdonalds"


def test_hashtag_key_casefolds_beyond_lowercase() -> None:
    """Casefolding matches forms lower() would not, such as German sharp s."""
    assert hashtag_key("#Straße") == hashtag_key("STRASSE") == "strasse"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@offerbot #AmexMcDonalds", ["AmexMcDonalds"]),
        ("#AmexMcDonalds at the start", ["AmexMcDonalds"]),
        ("loving it #tag,", ["tag"]),
        ("loving it #tag.", ["tag"]),
        ("(#paren)", ["paren"]),
        ("#one #two and #Three", ["one", "two", "Three"]),
        ("#one #one", ["one", "one"]),
        ("a#b", []),
        ("&#39;", []),
        ("it&#39;s #AmexZappos", ["AmexZappos"]),
        ("http://x.com/#frag", []),
        ("see https://example.com/page#section", []),
        ("＃ＡｍｅｘＺａｐｐｏｓ", ["AmexZappos"]),
        ("no tags here", []),
        ("# alone", []),
    ],
)
def test_hashtags_in_text(text: str, expected: list[str]) -> None:
    """Hashtags start after a non-word character and run over word characters."""
    assert hashtags_in_text(text) == expected


def test_keys_dedupe_in_first_seen_order() -> None:
    """keys_and_forms keeps the first occurrence of each key and drops empty ones."""
    tags = ["AmexZappos", "#AmexMcDonalds", "amexzappos", "", "#", "ＡＭＥＸＭＣＤＯＮＡＬＤＳ", "AmexFedEx"]
    assert keys_and_forms(tags)[0] == ("amexzappos", "amexmcdonalds", "amexfedex")


def test_keys_of_nothing_are_empty() -> None:
    """No tags give no keys."""
    assert keys_and_forms([])[0] == ()


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("@offerbot STOP", Command.STOP),
        ("@offerbot stop", Command.STOP),
        ("@offerbot stop.", Command.STOP),
        ("@offerbot Stop!", Command.STOP),
        ("@offerbot @other Stop", Command.STOP),
        ("@offerbot unsubscribe", Command.STOP),
        ("@offerbot UNLINK", Command.STOP),
        ("@offerbot please stop sending", Command.STOP),  # issue 9: a request in ordinary words
        ("@offerbot don't stop", Command.NONE),
        ("@offerbot #AmexMcDonalds", Command.ENROL),
        ("@offerbot sign me up for #AmexZappos and #AmexFedEx", Command.ENROL),
        ("@offerbot hello", Command.NONE),
        ("@offerbot", Command.NONE),
    ],
)
def test_command(text: str, command: Command) -> None:
    """An opt-out request means STOP, hashtags mean ENROL, anything else NONE."""
    assert mention(1, "1001", text).command() is command


def test_mention_builder_keeps_hashtag_keys() -> None:
    """A mention's hashtags are the unique keys of the tags in its text."""
    post = mention(1, "1001", "@offerbot #AmexZappos #amexzappos #AmexMcDonalds")
    assert post.hashtags == ("amexzappos", "amexmcdonalds")
