"""Logging set-up: one line per event, text for a terminal or JSON for machines, card numbers
masked in whatever is written (X ids the adapters know stay readable)."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from bot.adapters.x_ids import is_known_x_id
from bot.domain.cards import mask_card_numbers

# What every LogRecord has; anything else on a record came from `extra=` and is an event field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _utc(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


class TextFormatter(logging.Formatter):
    """`2026-11-23T12:00:00Z INFO bot.scheduler: poll: ...`, masked."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_utc(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return mask_card_numbers(line, keep=is_known_x_id)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, any `extra=` fields, error."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"ts": _utc(record), "level": record.levelname.lower(),
                                "logger": record.name, "message": record.getMessage()}
        data.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        # Masking the finished line covers messages, fields and tracebacks alike.
        return mask_card_numbers(json.dumps(data, ensure_ascii=False, default=str), keep=is_known_x_id)


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


def setup_logging(verbose: bool = False, fmt: str = "auto") -> None:
    """Log to stderr, one line per event (``fmt``: text, json, or auto: json unless a terminal)."""
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # tweepy logs OAuth headers at DEBUG; apscheduler logs every tick at INFO.
    for name, level in (("tweepy", logging.INFO), ("apscheduler", logging.WARNING),
                        ("urllib3", logging.WARNING), ("requests_oauthlib", logging.INFO),
                        ("oauthlib", logging.INFO), ("alembic", logging.WARNING)):
        logging.getLogger(name).setLevel(level)
