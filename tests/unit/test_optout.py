"""Opt-outs in ordinary words: generous for requests to stop, deaf to everything else."""

import pytest

from bot.domain.mentions import Command
from bot.domain.optout import is_opt_out, words_of
from tests.conftest import examples
from tests.fakes import mention

OPT_OUTS = [
    "@offerbot STOP",
    "@offerbot stop",
    "@offerbot Stop please",
    "@offerbot please stop",
    "@offerbot please stop!!",
    "@offerbot stop messaging me",
    "@offerbot Stop sending me messages",
    "@offerbot please stop sending",
    "@offerbot ＳＴＯＰ",
    "@offerbot STOP #AmexFedEx",
    "@offerbot #STOP",
    "@offerbot #Unsubscribe",
    "@offerbot unsubscribe me",
    "@offerbot UNSUBSCRIBE",
    "@offerbot cancel",
    "@offerbot END",
    "@offerbot quit",
    "@offerbot unlink",
    "@offerbot unlink my card",
    "@offerbot opt out",
    "@offerbot opt-out please",
    "@offerbot opt me out",
    "@offerbot optout",
    "@offerbot STOPALL",
    "@offerbot remove me",
    "@offerbot remove me from the list",
    "@offerbot leave me alone",
    "@offerbot take me off the list, thanks",
    "@offerbot no more messages",
    "@offerbot do not message me",
    "@offerbot don't contact me",
    "@offerbot Stop. Now. 🛑",
    "@offerbot stop stop stop",
    "@offerbot I want to unsubscribe",
    "@offerbot how do I stop this?",
    "@offerbot stop it https://t.co/abc123",
    "@offerbot @other Stop",
    "Stop please @offerbot",
    "@offerbot ＃ｓｔｏｐ",
    "@offerbot stop, thank you",
]

NOT_OPT_OUTS = [
    "@offerbot don't stop me now",
    "@offerbot Don’t stop",
    "@offerbot do not stop",
    "@offerbot never unsubscribe",
    "@offerbot I can't stop eating #AmexMcDonalds",
    "@offerbot stop by #AmexMcDonalds today",
    "@offerbot #AmexMcDonalds",
    "@offerbot #AmexStop",
    "@offerbot hello",
    "@offerbot thanks!",
    "@offerbot",
    "@offerbot the bus stop is closed",
    "@offerbot when does #AmexZappos end?",
    "@offerbot unstoppable",
    "@offerbot stopping by later",
    "@offerbot @stop #AmexFedEx",
    "@offerbot S.T.O.P",
    "@offerbot I will not quit #AmexShell",
    "@offerbot cancelled my order, is #AmexZappos still on?",
    "@offerbot please enrol me in #AmexFedEx",
    "https://example.com/stop @offerbot #AmexFedEx",
    "@offerbot stop the rain",
    "@offerbot don't unsubscribe me",
    "@offerbot please don't cancel my #AmexZappos",
    "@offerbot where do I stop to shop? #AmexShell",
    "@offerbot what happens at the end of #AmexFedEx?",
    "@offerbot I quit smoking, treating myself #AmexMcDonalds",
    "@offerbot no",
    "@offerbot remove the sold out ones please",
    "@offerbot #StopAndShop",
    "@offerbot can't stop won't stop",
    "@offerbot stopwatch",
    "@offerbot end-of-season sale? #AmexZappos",
]


@pytest.mark.parametrize("text", OPT_OUTS)
def test_requests_to_stop_are_opt_outs(text: str) -> None:
    """Keywords and known phrases with polite filler, in any case or width, opt out."""
    assert is_opt_out(text)
    assert mention(1, "1001", text).command() is Command.STOP


@pytest.mark.parametrize("text", NOT_OPT_OUTS)
def test_other_posts_are_not_opt_outs(text: str) -> None:
    """Negations, keywords inside other sentences and plain hashtags are not opt-outs."""
    assert not is_opt_out(text)
    assert mention(1, "1001", text).command() is not Command.STOP


def test_the_table_is_large_both_ways() -> None:
    """The phrasings above cover at least 30 opt-outs and 30 non-opt-outs."""
    assert len(OPT_OUTS) >= 30
    assert len(NOT_OPT_OUTS) >= 30


def test_opting_out_wins_over_the_campaign_hashtags_of_the_same_post() -> None:
    """'STOP #AmexFedEx' is a STOP: its hashtag is no enrolment."""
    post = mention(1, "1001", "@offerbot STOP #AmexFedEx")
    assert post.hashtags == ("amexfedex",)
    assert post.command() is Command.STOP


def test_words_drop_mentions_links_punctuation_and_unrelated_hashtags() -> None:
    """The rule reads NFKC-casefolded words; a keyword hashtag is kept as its word."""
    words = words_of("@offerbot ＳＴＯＰ, don’t #AmexFedEx #Stop https://t.co/x 🛑!")
    assert words == ["stop", "dont", "stop"]


def test_the_shortcut_for_plain_posts_agrees_with_the_rule_in_full() -> None:
    """Property: the quick 'no request word in it' answer equals reading the post in full."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from bot.domain.optout import FILLER, KEYWORDS, PHRASES, read_as_opt_out

    vocabulary = sorted({*KEYWORDS, *FILLER, *(w for p in PHRASES for w in p), "opt", "out", "un",
                         "subscribe", "un subscribe", "opt me out", "opt-out", "don't", "#stop", "#Stop_All",
                         "#AmexFedEx", "@offerbot", "fun", "stopping", "bus", "!", ",", "?"})
    words = st.lists(st.sampled_from(vocabulary) | st.text("abcdeilmnoprstu'#@", max_size=8), max_size=8)

    @settings(max_examples=examples(400), deadline=None)
    @given(words, st.sampled_from([" ", "  ", ". "]))
    def agree(chosen: list[str], gap: str) -> None:
        text = gap.join(chosen)
        assert is_opt_out(text) is read_as_opt_out(text)

    agree()
