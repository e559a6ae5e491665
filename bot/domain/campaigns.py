"""Hashtag campaigns: what a merchant configures, checked before any member sees it.

Over 300 lines on purpose: the campaign, every check of its file's fields and its status over
time are one rule set, read (and changed) together.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any

from bot.domain.hashtags import hashtag_key
from bot.domain.money import CENT, CURRENCY_RE, format_money, format_money_short, to_cents

FIELDS = (
    "id", "merchant", "hashtag", "merchant_ids", "enrol_from", "enrol_until", "redeem_by",
    "min_spend", "credit", "percent", "max_credit", "currency", "max_enrolments", "budget",
    "per_member", "status",
)
REQUIRED = ("id", "merchant", "hashtag", "merchant_ids", "enrol_from", "enrol_until",
            "redeem_by", "currency")
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_HASHTAG_RE = re.compile(r"#?\w{1,100}")
# A run of 13 or more digits, spaces or dashes allowed between them: how a card number is typed.
# Any digits count (Unicode ones too) and the Luhn check does not matter: text shown in public
# replies must not even look like a card number.
_CARD_LIKE_RE = re.compile(r"\d(?:[\s\-\u2010-\u2015]*\d){12,}")
CARD_NUMBER_IN_TEXT = "looks like a card number; card numbers must never appear in offer text"
BUDGET_WARNING_PERCENT = 80  # ops are warned when a campaign has spent this share of its budget
_DATE_FIELDS = ("enrol_from", "enrol_until", "redeem_by")
_DECIMAL_FIELDS = ("min_spend", "credit", "percent", "max_credit", "budget")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class CampaignStatus(StrEnum):
    """Where a campaign stands for enrolment."""

    UPCOMING = "upcoming"
    LIVE = "live"
    SOLD_OUT = "sold out"
    BUDGET_SPENT = "budget spent"  # no further credit of the campaign's size fits its budget
    ENDED = "ended"
    RETIRED = "retired"  # ended by the merchant (status = "retired"); its accounting is kept


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of a campaign file."""

    field: str
    message: str


class CampaignInvalid(ValueError):
    """A campaign definition broke one or more rules."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Campaign:
    """A merchant's hashtag offer, validated."""

    id: str
    merchant: str
    hashtag: str
    merchant_ids: tuple[str, ...]
    enrol_from: date
    enrol_until: date
    redeem_by: date
    currency: str
    min_spend: Decimal = Decimal("0")
    credit: Decimal | None = None
    percent: Decimal | None = None
    max_credit: Decimal | None = None
    max_enrolments: int | None = None
    budget: Decimal | None = None
    per_member: int = 1
    retired: bool = False
    tz: tzinfo = UTC

    @property
    def key(self) -> str:
        """Return the hashtag's comparison key."""
        return hashtag_key(self.hashtag)

    @property
    def opens_at(self) -> datetime:
        """Return the first instant members may enrol."""
        return datetime.combine(self.enrol_from, time.min, self.tz)

    @property
    def closes_at(self) -> datetime:
        """Return the first instant after the enrolment window (end of enrol_until)."""
        return datetime.combine(self.enrol_until + timedelta(days=1), time.min, self.tz)

    def status(self, now: datetime, enrolled: int, spent_cents: int = 0) -> CampaignStatus:
        """Return the campaign's status at ``now`` given its enrolments and budget spent."""
        if self.retired:
            return CampaignStatus.RETIRED
        if now < self.opens_at:
            return CampaignStatus.UPCOMING
        if now >= self.closes_at:
            return CampaignStatus.ENDED
        if self.max_enrolments is not None and enrolled >= self.max_enrolments:
            return CampaignStatus.SOLD_OUT
        if self.budget_spent(spent_cents):
            return CampaignStatus.BUDGET_SPENT
        return CampaignStatus.LIVE

    @property
    def budget_cents(self) -> int | None:
        """Return the budget in cents, or None when the campaign has none."""
        return None if self.budget is None else to_cents(self.budget)

    @property
    def largest_credit(self) -> Decimal:
        """Return the size of one credit: ``credit``, or ``max_credit`` for a percentage offer."""
        size = self.credit if self.credit is not None else self.max_credit
        assert size is not None
        return size

    def budget_spent(self, spent_cents: int) -> bool:
        """Tell whether the budget is spent: no further credit of the campaign's size fits."""
        budget = self.budget_cents
        return budget is not None and budget - spent_cents < to_cents(self.largest_credit)

    def budget_level(self, spent_cents: int) -> int:
        """Return 100 when the budget is spent, 80 from 80% of it, else 0 (and 0 without one)."""
        budget = self.budget_cents
        if budget is None:
            return 0
        if self.budget_spent(spent_cents):
            return 100
        return BUDGET_WARNING_PERCENT if spent_cents * 100 >= budget * BUDGET_WARNING_PERCENT else 0

    def definition(self) -> dict[str, Any]:
        """Return the campaign as its file's table in JSON-safe values, to keep a good version."""
        data: dict[str, Any] = {
            "id": self.id, "merchant": self.merchant, "hashtag": self.hashtag,
            "merchant_ids": list(self.merchant_ids), "currency": self.currency,
            "per_member": self.per_member, "status": "retired" if self.retired else "active",
        }
        for key in _DATE_FIELDS:
            data[key] = getattr(self, key).isoformat()
        for key in _DECIMAL_FIELDS:
            value = getattr(self, key)
            if value is not None:
                data[key] = str(value)
        if self.max_enrolments is not None:
            data["max_enrolments"] = self.max_enrolments
        return data

    def credit_for(self, amount: Decimal) -> Decimal:
        """Return the credit a qualifying purchase of ``amount`` earns."""
        if self.credit is not None:
            return self.credit
        assert self.percent is not None and self.max_credit is not None
        earned = (amount * self.percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        return min(earned, self.max_credit)

    def reward_text(self) -> str:
        """Describe the reward for people: '$5 back', '$10 back on $75+', '10% back, up to $50'."""
        if self.credit is not None:
            credit = format_money_short(self.credit, self.currency)
            if self.min_spend > 0:
                return f"{credit} back on {format_money_short(self.min_spend, self.currency)}+"
            return f"{credit} back"
        assert self.percent is not None and self.max_credit is not None
        pct = f"{self.percent.normalize():f}%"
        cap = format_money_short(self.max_credit, self.currency)
        if self.min_spend > 0:
            spend = format_money_short(self.min_spend, self.currency)
            return f"{pct} back on {spend}+, up to {cap}"
        return f"{pct} back, up to {cap}"

    def summary(self) -> dict[str, str]:
        """Return the campaign's display fields for reply templates (JSON-safe strings)."""
        return dict(self._summary)

    @cached_property
    def _summary(self) -> dict[str, str]:
        return {
            "id": self.id,
            "hashtag": "#" + self.hashtag.removeprefix("#"),
            "merchant": self.merchant,
            "reward": self.reward_text(),
            "min_spend": format_money(self.min_spend, self.currency),
            "redeem_by": human_date(self.redeem_by),
            "enrol_from": human_date(self.enrol_from),
            "enrol_until": human_date(self.enrol_until),
        }


def human_date(day: date) -> str:
    """Format a date the same way in every locale: 'Dec 31, 2026'."""
    return f"{_MONTHS[day.month - 1]} {day.day}, {day.year}"


def campaign_from_definition(data: Mapping[str, Any], tz: tzinfo = UTC) -> Campaign:
    """Rebuild a campaign kept by ``Campaign.definition``, checked by today's rules again."""
    table = dict(data)
    try:
        for key in _DATE_FIELDS:
            if isinstance(table.get(key), str):
                table[key] = date.fromisoformat(table[key])
        for key in _DECIMAL_FIELDS:
            if isinstance(table.get(key), str):
                table[key] = Decimal(table[key])
    except (ValueError, ArithmeticError) as exc:
        raise CampaignInvalid([FieldError("definition", f"cannot be read back: {exc}")]) from exc
    return parse_campaign(table, tz)


def named_id(data: Mapping[str, Any]) -> str | None:
    """Return the campaign id a table names, if it is a valid id (the rest may be broken)."""
    value = data.get("id")
    return value if isinstance(value, str) and _ID_RE.fullmatch(value) else None


def parse_campaign(data: Mapping[str, Any], tz: tzinfo = UTC) -> Campaign:
    """Validate one campaign's TOML table and return it, or raise CampaignInvalid."""
    errors: list[FieldError] = []

    def fail(field: str, message: str) -> None:
        errors.append(FieldError(field, message))

    for key in data:
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(FIELDS)}"
            fail(key, f"unknown key{hint}")
    for key in REQUIRED:
        if key not in data:
            fail(key, "is required")

    values: dict[str, Any] = {}
    for key, check in _CHECKS.items():
        if key in data:
            try:
                values[key] = check(data[key])
            except ValueError as exc:
                fail(key, str(exc))

    for key, value in list(values.items()):
        if isinstance(value, str) and _CARD_LIKE_RE.search(value):  # every text people may see
            fail(key, CARD_NUMBER_IN_TEXT)
    _check_reward(data, values, fail)
    _check_dates(values, fail)
    size = values.get("credit", values.get("max_credit"))
    if "budget" in values and size is not None and values["budget"] < size:
        # Such a budget could pay nothing: enrolment would be closed from the first day.
        other = "credit" if "credit" in values else "max_credit"
        fail("budget", f"is smaller than a single credit; raise it or lower {other}")
    if errors:
        raise CampaignInvalid(errors)
    values["retired"] = values.pop("status", "active") == "retired"
    return Campaign(**values, tz=tz)


def _check_reward(data: Mapping[str, Any], values: dict[str, Any], fail: Any) -> None:
    has_credit, has_percent = "credit" in data, "percent" in data
    if has_credit and has_percent:
        fail("credit", "give either credit (a fixed amount) or percent, not both")
    elif not has_credit and not has_percent:
        fail("credit", "is required: give credit = 5.00 (fixed) or percent = 10 with max_credit")
    if has_percent and "max_credit" not in data:
        fail("max_credit", "is required with percent, e.g. max_credit = 50.00")
    if has_credit and "max_credit" in data:
        fail("max_credit", "only applies to percent offers; remove it or use percent")


def _check_dates(values: dict[str, Any], fail: Any) -> None:
    start, until, redeem = (values.get(k) for k in ("enrol_from", "enrol_until", "redeem_by"))
    if start and until and until < start:
        fail("enrol_until", f"{until} is before enrol_from {start}")
    if until and redeem and redeem < until:
        fail("redeem_by", f"{redeem} is before enrol_until {until}; members need time to spend")


def _text(limit: int) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError('must be a non-empty string in quotes, e.g. "McDonald\'s"')
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; keep it to {limit}")
        return value.strip()

    return check


def _campaign_id(value: Any) -> str:
    if not isinstance(value, str) or _ID_RE.fullmatch(value) is None:
        raise ValueError('must be lower-case letters, digits, - or _, e.g. "mcdonalds-2026"')
    return value


def _hashtag(value: Any) -> str:
    if not isinstance(value, str) or _HASHTAG_RE.fullmatch(value) is None:
        raise ValueError('must be one word of letters, digits or _, e.g. "#AmexMcDonalds"')
    if value.lstrip("#").isdigit():
        raise ValueError("cannot be only digits; X does not link such hashtags")
    return "#" + value.removeprefix("#")


def _merchant_ids(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError('must be a non-empty list of merchant ids, e.g. ["MID-0001"]')
    ids = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{item!r} is not a merchant id; write each as a quoted string")
        ids.append(item.strip())
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"lists {', '.join(dupes)} more than once")
    return tuple(ids)


def _date(value: Any) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError("must be a TOML date without quotes, e.g. 2026-12-31")
    return value


def _amount(*, positive: bool) -> Any:
    def check(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise ValueError("must be a number without quotes, e.g. 5.00")
        amount = Decimal(value)
        if not amount.is_finite() or amount < 0 or (positive and amount == 0):
            raise ValueError("must be greater than 0" if positive else "must not be negative")
        if amount != amount.quantize(CENT):
            raise ValueError("has more than two decimal places")
        return amount.quantize(CENT)

    return check


def _percent(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("must be a number without quotes, e.g. 10 for 10%")
    pct = Decimal(value)
    if not pct.is_finite() or not 0 < pct <= 100:
        raise ValueError("must be more than 0 and at most 100")
    return pct


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _status(value: Any) -> str:
    if value not in ("active", "retired"):
        raise ValueError('must be "active" or "retired" (a retired campaign takes no enrolments)')
    return str(value)


def _currency(value: Any) -> str:
    if not isinstance(value, str) or CURRENCY_RE.fullmatch(value) is None:
        raise ValueError('must be a three-letter ISO code in capitals, e.g. "USD"')
    return value


_CHECKS: dict[str, Any] = {
    "id": _campaign_id,
    "merchant": _text(60),
    "hashtag": _hashtag,
    "merchant_ids": _merchant_ids,
    "enrol_from": _date,
    "enrol_until": _date,
    "redeem_by": _date,
    "min_spend": _amount(positive=False),
    "credit": _amount(positive=True),
    "percent": _percent,
    "max_credit": _amount(positive=True),
    "currency": _currency,
    "max_enrolments": _count,
    "budget": _amount(positive=True),
    "per_member": _count,
    "status": _status,
}


@dataclass(frozen=True)
class CatalogProblem:
    """A rule broken across campaign files, attributed to one of them."""

    source: str
    field: str
    message: str


def check_catalog(campaigns: Iterable[tuple[str, Campaign]]) -> list[CatalogProblem]:
    """Return the cross-file problems in (source, campaign) pairs: shared ids or hashtags."""
    problems: list[CatalogProblem] = []
    by_id: dict[str, str] = {}
    by_tag: dict[str, str] = {}
    for source, campaign in campaigns:
        if campaign.id in by_id:
            problems.append(CatalogProblem(source, "id", id_clash(campaign.id, by_id[campaign.id])))
        else:
            by_id[campaign.id] = source
        if campaign.key in by_tag:
            problems.append(CatalogProblem(source, "hashtag", hashtag_clash(campaign.hashtag,
                                                                            by_tag[campaign.key])))
        else:
            by_tag[campaign.key] = source
    return problems


def id_clash(campaign_id: str, other: str) -> str:
    """Say that another file already has this campaign id."""
    return f"'{campaign_id}' is also the id in {other}; ids must be unique"


def hashtag_clash(hashtag: str, other: str) -> str:
    """Say that another file already uses this hashtag."""
    return (f"{hashtag} is also used by {other} (hashtags match regardless of case); "
            "pick another hashtag")
