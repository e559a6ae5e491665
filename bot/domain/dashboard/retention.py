"""How long the dashboard's purchases are kept: from 90 days before a campaign opens (the look-back)
to 90 days after its last ``redeem_by`` (the coming-back window), and at least 13 months."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

AFTER_REDEEM_BY = timedelta(days=90)  # the coming-back window runs 90 days past the last purchase
KEEP_MONTHS = 13  # a year and the month it is compared with


def months_before(day: date, months: int) -> date:
    """Return the same day of the month ``months`` earlier (the month's last day if it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    for candidate in range(day.day, 27, -1):
        try:
            return date(year, month + 1, candidate)
        except ValueError:
            continue
    return date(year, month + 1, min(day.day, 28))


def prune_before(last_redeem_by: Mapping[str, date], merchant_ids: Iterable[str], *,
                 today: date) -> dict[str, date]:
    """Return, per merchant id, the day before which its kept purchases are deleted.

    A purchase goes on the later of two days: 90 days after the last ``redeem_by`` of the
    merchant id's campaigns (none: that day has passed), and 13 months after it was made. A
    merchant id whose campaigns still need it is not listed: nothing of it is deleted.
    """
    floor = months_before(today, KEEP_MONTHS)
    found: dict[str, date] = {}
    for merchant_id in merchant_ids:
        last = last_redeem_by.get(merchant_id)
        if last is None or today > last + AFTER_REDEEM_BY:
            found[merchant_id] = floor
    return found
