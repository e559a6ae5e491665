"""Hashtag normalisation and extraction: one key per hashtag, however it was typed."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# A fallback for posts without entities, close to X's own rule: a hashtag starts after a
# non-word character (or at the start) and runs over word characters.
_HASHTAG_RE = re.compile(r"(?:^|(?<=[^\w&/]))[#＃](\w+)")


def hashtag_key(tag: str) -> str:
    """Return the comparison key of a hashtag: NFKC, casefolded, without the leading '#'."""
    text = unicodedata.normalize("NFKC", tag).strip()
    text = text.removeprefix("#")
    return unicodedata.normalize("NFKC", text.casefold())


def hashtags_in_text(text: str) -> list[str]:
    """Return the hashtags written in ``text``, as typed, without '#'."""
    return _HASHTAG_RE.findall(unicodedata.normalize("NFKC", text))


def keys_and_forms(tags: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the distinct keys of ``tags`` in first-seen order, and the first typed form of each."""
    seen: dict[str, str] = {}
    for tag in tags:
        key = hashtag_key(tag)
        if key:
            seen.setdefault(key, tag.strip().removeprefix("#").removeprefix("＃"))
    return tuple(seen), tuple(seen.values())
