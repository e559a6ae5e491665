"""What reconciling a file did: counted as it goes, saved with the file, printed and exported.

A pure record: the services count into it, the ledger keeps it as JSON (``to_dict``) and a
resumed run rebuilds it by field name (``from_dict``); ``render`` is the text people read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from bot.domain.money import format_cents
from bot.domain.reconcile import CreditKind, TxnOutcome
from bot.domain.transactions import Reject

SHOWN_REJECTS = 50  # rejects a dry run lists; the rest are counted
NO_DATA_ROWS = "the file has a header and no data rows"
_NOT_SAVED = {"shown_rejects"}  # for the command to print; never saved


def _totals() -> dict[str, int]:
    return {"credits": 0, "credited_cents": 0, "clawbacks": 0, "clawed_back_cents": 0, "unchanged": 0}


class RunStatus(StrEnum):
    """What a run of a file came to."""

    RUNNING = "running"
    RECONCILED = "reconciled"
    ALREADY_RECONCILED = "already reconciled"  # the same SHA-256 was reconciled before
    DRY_RUN = "dry run"  # decided, nothing written


@dataclass
class Summary:
    """What reconciling one file did; saved with the file, printed and written beside exports."""

    file: str
    sha256: str
    status: RunStatus = RunStatus.RUNNING
    rows: int = 0
    rejected: int = 0
    other_merchant: int = 0
    not_linked: int = 0
    matched: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    campaigns: dict[str, dict[str, int]] = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)
    run: int = 1  # 2 and up: `reconcile --again`, whose credits are the ones it newly issued
    # Refunds of earlier files this run settled: applied, nothing to reverse, or expired.
    earlier_refunds: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)  # printed, logged and saved with the summary
    # A dry run's first SHOWN_REJECTS rejects, by line, for the command to print (never saved).
    shown_rejects: list[Reject] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Return the data rows that were read and used (rows = accepted + rejected)."""
        return self.rows - self.rejected

    def count_matched(self, rows: int) -> None:
        """Count rows of linked cards at campaign merchants (``matched`` is counted here only)."""
        self.matched += rows

    def count_not_enrolled(self, rows: int, outcomes: int) -> None:
        """Count purchases by members enrolled in none of their merchant's campaigns: matched rows,
        and ``outcomes`` (one per campaign) 'not enrolled' (counted here only, whoever dropped them)."""
        self.count_matched(rows)
        if outcomes:
            self.outcomes[TxnOutcome.NOT_ENROLLED] += outcomes

    def add_credit(self, campaign_id: str, kind: CreditKind, cents: int) -> None:
        """Count a credit or clawback against its campaign."""
        totals = self.campaigns.get(campaign_id)
        if totals is None:
            totals = self.campaigns[campaign_id] = _totals()
        if kind == CreditKind.CREDIT:
            totals["credits"] += 1
            totals["credited_cents"] += cents
        else:
            totals["clawbacks"] += 1
            totals["clawed_back_cents"] += -cents

    def add_unchanged(self, campaign_id: str) -> None:
        """Count a transaction whose credit (or refund) a run before this one issued already."""
        self.campaigns.setdefault(campaign_id, _totals())["unchanged"] += 1

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-safe data."""
        return {"file": self.file, "sha256": self.sha256, "status": self.status, "rows": self.rows,
                "accepted": self.accepted, "rejected": self.rejected,
                "other_merchant": self.other_merchant, "not_linked": self.not_linked,
                "matched": self.matched, "outcomes": dict(sorted(self.outcomes.items())),
                "campaigns": self.campaigns, "exports": self.exports, "run": self.run,
                "earlier_refunds": dict(sorted(self.earlier_refunds.items())), "warnings": self.warnings}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        """Rebuild a summary saved by ``to_dict`` (by this version or an earlier one), field by
        field name: what an earlier version did not save takes its default."""
        saved = {f.name for f in fields(cls) if f.name not in _NOT_SAVED} & set(data)
        values = {name: data[name] for name in saved}
        values["status"] = RunStatus(data["status"])
        values["outcomes"] = Counter(data.get("outcomes", {}))
        values["earlier_refunds"] = Counter(data.get("earlier_refunds", {}))
        values["campaigns"] = {cid: _totals() | totals for cid, totals in data.get("campaigns", {}).items()}
        values["exports"] = dict(data.get("exports", {}))
        values["warnings"] = list(data.get("warnings", []))
        return cls(**values)

    def render(self, currency: Callable[[str], str] = lambda _: "USD") -> str:
        """Return the summary as text for people."""
        again = f", run {self.run} (--again: only what earlier runs did not issue)" if self.run > 1 else ""
        lines = [f"{self.file} (sha256 {self.sha256[:16]}...): {self.status}{again}",
                 *(f"  warning: {warning}" for warning in self.warnings),
                 f"  rows read          {self.rows:>10,}",
                 f"  accepted           {self.accepted:>10,}",
                 f"  rejected           {self.rejected:>10,}",
                 f"  other merchants    {self.other_merchant:>10,}   (no campaign has the merchant id)",
                 f"  cards not linked   {self.not_linked:>10,}",
                 f"  matched            {self.matched:>10,}   (linked card at a campaign merchant)"]
        lines += [f"    {name:<22}{count:>8,}" for name, count in sorted(self.outcomes.items())]
        if self.earlier_refunds:
            lines.append("  refunds from earlier files, waiting for their purchase:")
            lines += [f"    {name:<22}{count:>8,}" for name, count in sorted(self.earlier_refunds.items())]
        if self.campaigns:
            lines.append("  per campaign:")
        new = "new " if self.run > 1 else ""
        for campaign_id, totals in sorted(self.campaigns.items()):
            cur = currency(campaign_id)
            line = (f"    {campaign_id:<28} {totals['credits']:>7,} {new}credits "
                    f"{format_cents(totals['credited_cents'], cur):>14}   "
                    f"{totals['clawbacks']:>5,} {new}clawbacks "
                    f"{format_cents(totals['clawed_back_cents'], cur):>12}")
            if self.run > 1:
                line += f"   {totals['unchanged']:>7,} unchanged"
            lines.append(line)
        lines += [f"  {kind}: {path}" for kind, path in sorted(self.exports.items())]
        return "\n".join(lines)
