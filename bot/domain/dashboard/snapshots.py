"""Stored reports: what one is kept with, and the stamp that says whether it is still current.

A report is a pure function of the ledger, k and the report code; its stamp names each of those
(cheaply: counters, not the data), so a report whose stamp matches needs no recomputation and
one whose stamp differs is recomputed whole, which keeps it exactly right across crashes and reruns.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any, NamedTuple

from bot.domain.dashboard.facts import Terms

# Bump when the numbers a report holds are computed differently: every stored report then
# counts as stale and is recomputed.
REPORT_VERSION = 1


class StoredReport(NamedTuple):
    """A campaign's report as stored: ``data`` is report_data(report), ``stamp`` the ledger's state."""

    campaign_id: str
    stamp: str
    as_of: datetime
    min_members: int
    data: dict[str, Any]


class LedgerState(NamedTuple):
    """The counters a campaign's facts change with (each moves when the facts may have), each read
    along an index: a page asks for them on every view."""

    last_file: int  # the last transaction file reconciled to the end (0: none)
    runs: int  # runs reconciled to the end, over all files (`reconcile --again` adds one)
    last_enrolment: int  # the id of the campaign's latest enrolment (enrolments are never deleted)
    last_link: int  # the latest card link's id (a new link adds a member to the comparison pool)


def stamp(terms: Terms, state: LedgerState, *, min_members: int) -> str:
    """Return the stamp of a report computed from ``state`` with k = ``min_members``."""
    terms_hash = hashlib.sha256(repr(_terms_key(terms)).encode()).hexdigest()[:12]
    return (f"v{REPORT_VERSION}:k{min_members}:t{terms_hash}:f{state.last_file}.{state.runs}"
            f":e{state.last_enrolment}:l{state.last_link}")


def _terms_key(terms: Terms) -> tuple[object, ...]:
    days: tuple[date, ...] = (terms.enrol_from, terms.enrol_until, terms.redeem_by)
    return (terms.campaign_id, terms.merchant, terms.currency, *days, terms.max_enrolments,
            terms.budget_cents)
