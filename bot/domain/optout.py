"""Opt-out requests in ordinary words: 'STOP', 'please stop', 'stop messaging me', '#unsubscribe'.

X's automation rules ask a bot to honour opt-outs, so the rule is generous: after NFKC,
casefolding and dropping @mentions, links, punctuation and emoji, a post opts out when what is
left is made of opt-out keywords and known opt-out phrases with only polite filler around them.
Any other word, a negation included ('don't stop me now' is a song, not a request), means it
is not a request. Hashtags that are not keywords are left out, so 'STOP #AmexFedEx' opts out
(and enrols in nothing), and '#STOP' is the keyword, not an unknown hashtag.
"""

from __future__ import annotations

import re
import unicodedata

KEYWORDS = frozenset({"stop", "stopall", "unsubscribe", "unsub", "cancel", "end", "quit", "unlink",
                      "optout", "remove"})
# Words that may sit around a request without changing it ("please stop now, thank you").
FILLER = frozenset({
    "please", "pls", "plz", "now", "thanks", "thank", "thx", "ty", "you", "me", "us", "all", "just",
    "ok", "okay", "hi", "hello", "hey", "bot", "asap", "immediately", "right", "away", "again", "kindly",
    "sorry", "seriously", "already", "really", "yes", "so", "and", "from", "this", "these", "those",
    "them", "it", "for", "my", "the", "of", "account", "card", "offers", "offer", "anymore", "any",
    "more", "i", "im", "id", "we", "want", "wanna", "would", "like", "to", "need", "how", "do", "can",
    "could",
})
# Phrases that ask to stop, as they read once the filler is gone ("stop messaging me" is
# stop + messaging; "do not contact me" is not + contact).
PHRASES = frozenset({
    ("stop", "messaging"), ("stop", "messages"), ("stop", "sending"), ("stop", "sending", "messages"),
    ("stop", "texting"), ("stop", "replying"), ("stop", "replies"), ("stop", "contacting"),
    ("stop", "tweeting"), ("stop", "tagging"), ("stop", "mentioning"), ("stop", "dming"),
    ("stop", "spamming"), ("stop", "spam"), ("no", "messages"), ("no", "replies"), ("leave", "alone"),
    ("take", "off"), ("take", "off", "list"), ("remove", "list"), ("count", "out"),
    ("dont", "message"), ("dont", "contact"), ("dont", "dm"), ("not", "message"), ("not", "contact"),
    ("never", "message"), ("never", "contact"),
})
# Anything else left over, a negation ("don't stop me now", "never unsubscribe") included,
# means the post is not an opt-out request.

_MENTION_RE = re.compile(r"(?<!\w)@\w{1,15}")
_URL_RE = re.compile(r"https?://\S+")
_HASHTAG_RE = re.compile(r"#(\w+)")
_APOSTROPHES = str.maketrans("", "", "'’ʼ`´")
_WORD_RE = re.compile(r"[^\W_]+")
_LONGEST = max(len(p) for p in PHRASES)
# Every keyword and the first word of every phrase, as a request must contain one of them
# ("opt" and "un" for "opt out" and "un subscribe", which are read as one word).
_STARTS = re.compile("|".join(sorted({*KEYWORDS, "opt", "un", *(p[0] for p in PHRASES)})))


def words_of(text: str) -> list[str]:
    """Return the words of a post as the opt-out rule reads them (keyword hashtags kept)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = _URL_RE.sub(" ", _MENTION_RE.sub(" ", folded))
    folded = _HASHTAG_RE.sub(lambda m: f" {m.group(1)} " if _is_keyword(m.group(1)) else " ", folded)
    return _WORD_RE.findall(folded.translate(_APOSTROPHES))


def is_opt_out(text: str) -> bool:
    """Return True when the post asks the bot to stop: keywords and phrases, filler, nothing else."""
    # Most posts are plain ASCII naming none of the words a request starts with: say no at once.
    if text.isascii() and not _STARTS.search(text.casefold().translate(_APOSTROPHES)):
        return False
    return read_as_opt_out(text)


def read_as_opt_out(text: str) -> bool:
    """Return whether the words of ``text`` make an opt-out request (the rule in full, no shortcut)."""
    words = [w for w in _join_opt_out(words_of(text)) if w not in FILLER]
    return bool(words) and _covered(tuple(words))


def _is_keyword(word: str) -> bool:
    return word.replace("_", "") in KEYWORDS


def _join_opt_out(words: list[str]) -> list[str]:
    """Join the words of 'opt-out', 'opt out', 'opt me out' and 'un subscribe' into one."""
    joined: list[str] = []
    for word in words:
        if joined and (joined[-1], word) == ("un", "subscribe"):
            joined[-1] = "unsubscribe"
        elif word == "out" and joined[-2:] in (["opt", "me"], ["opt", "us"]):
            joined[-2:] = ["optout"]
        elif word == "out" and joined[-1:] == ["opt"]:
            joined[-1] = "optout"
        else:
            joined.append(word)
    return joined


def _covered(words: tuple[str, ...]) -> bool:
    """Return True when ``words`` split into keywords and phrases, with no word left over."""
    reachable = [True] + [False] * len(words)
    for start in range(len(words)):
        if not reachable[start]:
            continue
        if words[start] in KEYWORDS:
            reachable[start + 1] = True
        for size in range(2, _LONGEST + 1):
            if start + size <= len(words) and words[start:start + size] in PHRASES:
                reachable[start + size] = True
    return reachable[-1]
