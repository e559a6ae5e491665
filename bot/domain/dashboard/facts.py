"""What one campaign's dashboard is computed from: plain records, read from the ledger per campaign.

Member keys are opaque strings (the database's member id, or any stable pseudonym): they are
used to count distinct members and never reach a report. Days are calendar dates in the
campaign's time zone (enrolments) or as the transaction file dates them (purchases, credits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple

DEFAULT_MIN_MEMBERS = 10
MIN_MEMBERS_FLOOR = 5  # Apple's threshold; fewer would let a small group be singled out
LOOK_BACK_DAYS = 90  # "returning": bought at the merchant in the 90 days before enrolling


class FactsInvalid(ValueError):
    """The facts break a rule the numbers rely on (a bug in whoever read them); says which."""


class SettingInvalid(ValueError):
    """A dashboard setting is out of range; the message says the allowed values."""


def check_min_members(value: object) -> int:
    """Return ``[dashboard] min_members`` as k, or raise SettingInvalid (a whole number, at least 5)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingInvalid(f"min_members must be a whole number of members (it is {value!r}); "
                             f"the default is {DEFAULT_MIN_MEMBERS}")
    if value < MIN_MEMBERS_FLOOR:
        raise SettingInvalid(f"min_members must be at least {MIN_MEMBERS_FLOOR} (it is {value}): a "
                             f"smaller group could single out a member; the default is "
                             f"{DEFAULT_MIN_MEMBERS}")
    return value


class Enrolment(NamedTuple):
    """A member's enrolment in the campaign (one per member), on its local calendar day."""

    member: str
    day: date


class Purchase(NamedTuple):
    """A purchase at one of the campaign merchant's ids by a linked card, enrolled or not.

    ``qualifying``: it earned this campaign's statement credit. ``refunded_cents``: refunds
    applied to it since (0 up to ``cents``). Named tuples rather than dataclasses: a campaign has
    a million of these, and a tuple is several times cheaper to make (as in domain.reconcile).
    """

    member: str
    day: date
    cents: int
    qualifying: bool = False
    refunded_cents: int = 0

    @property
    def net_cents(self) -> int:
        """Return what was kept of the purchase after refunds."""
        return self.cents - self.refunded_cents


class Credit(NamedTuple):
    """A statement credit (positive cents) or a clawback (negative), dated by its transaction."""

    member: str
    day: date
    cents: int


class History(NamedTuple):
    """The days a linked member's purchases at the merchant are held, inclusive.

    ``held_from``: the later of the day the card was linked and the ledger's first day for the
    merchant; ``held_until``: the day the link ended (None: still linked; the data's last day
    applies). Members without one are taken to be held over the whole DataSpan.
    """

    member: str
    held_from: date
    held_until: date | None = None


@dataclass(frozen=True)
class Terms:
    """The campaign's own terms, as the dashboard needs them."""

    campaign_id: str
    merchant: str
    currency: str
    enrol_from: date
    enrol_until: date
    redeem_by: date
    max_enrolments: int | None = None  # the quantity; None: unlimited
    budget_cents: int | None = None  # None: no budget


@dataclass(frozen=True)
class DataSpan:
    """The days the ledger holds the merchant's purchases by linked cards, inclusive."""

    first_day: date
    last_day: date

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise FactsInvalid(f"the data span ends ({self.last_day}) before it starts ({self.first_day})")


@dataclass(frozen=True)
class CampaignFacts:
    """Everything one campaign's dashboard is computed from.

    ``purchases`` are the merchant's purchases by linked cards (enrolled members, before and after
    enrolling, and others); ``histories`` the linked members the comparison group may be drawn
    from (every non-enrolled linked member, including those who never bought there) and any
    member whose history is shorter than the span. ``as_of`` is when the ledger was last brought
    up to date (the last poll and reconciliation), shown as "as of" on the page.
    """

    terms: Terms
    span: DataSpan
    as_of: datetime
    enrolments: Sequence[Enrolment]
    purchases: Sequence[Purchase] = ()
    credits: Sequence[Credit] = ()
    histories: Sequence[History] = field(default=())
