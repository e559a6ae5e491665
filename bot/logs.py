"""Logging set-up: one line per event, card numbers masked before anything is written."""

from __future__ import annotations

import logging
import sys
import time

from bot.domain.cards import mask_card_numbers


class MaskCardNumbers(logging.Filter):
    """Mask any Luhn-valid digit run in a record, whatever logged it (defence in depth)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_card_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class UTCFormatter(logging.Formatter):
    """Timestamps in UTC, ISO 8601."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is now (a test runner may have swapped it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr, one line per event; quiet libraries that log request headers at DEBUG."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler.setFormatter(UTCFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskCardNumbers())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # tweepy logs OAuth headers at DEBUG; apscheduler logs every tick at INFO.
    for name, level in (("tweepy", logging.INFO), ("apscheduler", logging.WARNING),
                        ("urllib3", logging.WARNING), ("requests_oauthlib", logging.INFO),
                        ("oauthlib", logging.INFO)):
        logging.getLogger(name).setLevel(level)
