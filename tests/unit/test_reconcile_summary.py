"""The summary of a run: counted in one place each, saved as JSON, rebuilt by field name."""

from __future__ import annotations

from collections import Counter

from bot.domain.reconcile import CreditKind, TxnOutcome
from bot.domain.reconcile_summary import RunStatus, Summary
from bot.domain.transactions import Reject


def test_a_summary_survives_its_own_json() -> None:
    """from_dict(to_dict()) gives back every saved field (the dry run's shown rejects are never saved)."""
    summary = Summary("day.csv", "ab" * 32, RunStatus.RECONCILED, rows=9, rejected=2, other_merchant=1,
                      not_linked=1, run=2, warnings=["the file has a header and no data rows"],
                      shown_rejects=[Reject(4, "amount", "not a number")])
    summary.count_matched(3)
    summary.count_not_enrolled(2, 3)
    summary.add_credit("amex-mcdonalds", CreditKind.CREDIT, 500)
    summary.add_credit("amex-mcdonalds", CreditKind.CLAWBACK, -200)
    summary.add_unchanged("amex-zappos")
    summary.earlier_refunds["applied"] += 1
    summary.exports = {"credits.csv": "/x/day.ababab.again-1.credits.csv"}

    again = Summary.from_dict(summary.to_dict())

    assert again == Summary(**{**summary.__dict__, "shown_rejects": []})
    assert again.status is RunStatus.RECONCILED
    assert again.outcomes == Counter({TxnOutcome.NOT_ENROLLED: 3})


def test_a_summary_saved_by_an_earlier_version_is_rebuilt_by_name_with_defaults() -> None:
    """Fields an earlier version did not save take their defaults; saved ones are matched by name."""
    saved = {"warnings": [], "matched": 7, "not_linked": 0, "status": "running", "sha256": "cd" * 32,
             "rows": 9, "file": "old.csv", "rejected": 0, "other_merchant": 2, "accepted": 9,
             "outcomes": {"credited": 3},
             "campaigns": {"amex-fedex": {"credits": 3, "credited_cents": 1500, "clawbacks": 0,
                                          "clawed_back_cents": 0}}}

    summary = Summary.from_dict(saved)

    assert (summary.file, summary.rows, summary.matched, summary.other_merchant) == ("old.csv", 9, 7, 2)
    assert (summary.run, summary.exports, summary.earlier_refunds) == (1, {}, Counter())
    assert summary.campaigns["amex-fedex"]["unchanged"] == 0  # a counter added since
    assert summary.status is RunStatus.RUNNING


def test_not_enrolled_counts_as_matched_and_once_per_campaign() -> None:
    """count_not_enrolled adds its rows to matched and one 'not enrolled' per campaign; zero adds no key."""
    summary = Summary("day.csv", "ef" * 32)

    summary.count_not_enrolled(0, 0)
    assert summary.outcomes == {}
    summary.count_not_enrolled(2, 3)

    assert (summary.matched, summary.outcomes) == (2, {"not enrolled": 3})
