"""Reconciling transaction files into credits: exactly once, crash-safe, explained."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD

DAY = "2026-11-21"


def row(tid: str, card: str, mid: str, amount: str, *, day: str = DAY, kind: str = "purchase",
        original: str = "", name: str = "Shop") -> str:
    return f"{tid},{card},{mid},{name},{amount},USD,{day},{kind},{original}"


def exported(path: str) -> list[dict[str, str]]:
    with Path(path).open(newline="", encoding="utf-8") as lines:
        return list(csv.DictReader(lines))


def credits_in_db(ledger) -> list[tuple]:
    with ledger.uow(readonly=True) as tx:
        return [tuple(r) for r in tx.ledger._conn.exec_driver_sql(
            "SELECT transaction_id, campaign_id, kind, cents FROM credits ORDER BY seq").all()]


def test_a_qualifying_purchase_earns_one_credit_and_an_export_line(ledger, make_csv):
    """Alice's $12.50 at McDonald's after enrolling earns $5.00, exported with her last 4 digits."""
    path = make_csv("day.csv", row("T1", ALICE_CARD, "MID-MCD-0001", "12.50"))

    summary = ledger.reconcile(path)

    assert summary.status == "reconciled"
    assert (summary.rows, summary.accepted, summary.rejected, summary.matched) == (1, 1, 0, 1)
    assert summary.outcomes == {"credited": 1}
    assert summary.campaigns["amex-mcdonalds"]["credited_cents"] == 500
    [line] = exported(summary.exports["credits.csv"])
    assert (line["transaction_id"], line["campaign_id"], line["amount"], line["last4"], line["kind"]) == (
        "T1", "amex-mcdonalds", "5.00", "0005", "credit")
    assert line["credit_id"].startswith("CR")
