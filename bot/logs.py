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


def setup_logging(verbose: bool = False) -> None:
    """Send log lines to stderr; quiet the libraries that log request headers at DEBUG."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(UTCFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskCardNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # tweepy logs OAuth headers at DEBUG; apscheduler logs every tick at INFO.
    for name, level in (("tweepy", logging.INFO), ("apscheduler", logging.WARNING),
                        ("urllib3", logging.WARNING), ("requests_oauthlib", logging.INFO),
                        ("oauthlib", logging.INFO)):
        logging.getLogger(name).setLevel(level)
