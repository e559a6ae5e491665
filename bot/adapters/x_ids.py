"""X ids the adapters have parsed, so that masking card numbers in logs leaves them readable.

About one X post id in ten passes the Luhn check, as a card number would. The adapters note
every id X gave them (posts, authors, the bot's own replies and DMs); log masking leaves a digit
run alone only when it is exactly one of these ids, and masks every other Luhn-valid run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

LIMIT = 50_000  # ids kept, newest last: a poll's worth many times over, a few megabytes at most


class KnownXIds:
    """A bounded set of X ids: the oldest is forgotten first once ``limit`` are kept."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._ids: dict[str, None] = {}
        self._lock = threading.Lock()

    def add(self, ids: Iterable[object]) -> None:
        """Remember ``ids`` (numeric strings; anything else is ignored)."""
        with self._lock:
            for value in ids:
                text = str(value) if value is not None else ""
                if not (text.isascii() and text.isdigit()):
                    continue
                self._ids.pop(text, None)  # seen again: it moves to the newest end
                self._ids[text] = None
            while len(self._ids) > self._limit:
                del self._ids[next(iter(self._ids))]

    def __contains__(self, digits: object) -> bool:
        return digits in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def clear(self) -> None:
        """Forget every id (for tests)."""
        with self._lock:
            self._ids.clear()


# One per process, like logging itself: every adapter adds, every log formatter asks.
KNOWN_X_IDS = KnownXIds()


def remember_x_ids(*ids: object) -> None:
    """Note ids X gave us, so logs show them as they are."""
    KNOWN_X_IDS.add(ids)


def is_known_x_id(digits: str) -> bool:
    """Return True when ``digits`` is exactly an X id an adapter has seen."""
    return digits in KNOWN_X_IDS
