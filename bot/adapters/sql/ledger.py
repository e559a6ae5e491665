"""The ledger as one repository: transaction files and rejects (ledger_files), rows waiting to be
decided (ledger_waiting), kept transactions and credits (ledger_credits), the purchases the
dashboard counts (ledger_purchases). Each part owns its tables;
the budgets spent belong to the campaigns, so ``add_spent`` goes through their repository."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from bot.adapters.sql.campaigns import CampaignRepository
from bot.adapters.sql.ledger_credits import CreditLedger
from bot.adapters.sql.ledger_files import FileLedger
from bot.adapters.sql.ledger_purchases import PurchaseLedger
from bot.adapters.sql.ledger_waiting import WaitingLedger


class LedgerRepository(FileLedger, WaitingLedger, CreditLedger, PurchaseLedger):
    """Transaction files, the transactions that mattered, credits and rejected rows."""

    def __init__(self, conn: Connection, campaigns: CampaignRepository) -> None:
        self._conn, self._campaigns = conn, campaigns

    def finish_file(self, file_id: int, counters: Mapping[str, Any], now: datetime) -> None:
        """Mark the file reconciled (its new credits' notices are then due) and drop its staged rows."""
        self.mark_reconciled(file_id, counters, now)
        self.clear_staged(file_id)

    def add_spent(self, deltas: Mapping[str, int]) -> list[str]:
        """Move campaigns' spent totals (CampaignRepository.add_spent); return those whose budget refused."""
        return self._campaigns.add_spent(deltas)
