"""The README's sandbox walkthrough ends on the dashboard: the sample crowd, its posts and the sample
transaction file give the sample merchant real numbers with k = 10."""

from __future__ import annotations

from pathlib import Path

from bot.bootstrap import bootstrap
from bot.config import load_settings
from bot.environment import read_environment


def test_the_sample_files_give_mcdonalds_real_numbers_with_k_ten(offerbot, project: Path) -> None:
    """16 enrolled, 13 redeeming, their spend and credits, and all 13 back within a week: shown,
    not suppressed, on the report the portal reads (recomputed after the reconciliation)."""
    assert offerbot("sync", "import", "data/sample_members.csv").exit_code == 0
    assert offerbot("sync", "import", "data/sample_crowd.csv").exit_code == 0
    sandbox = project / "data" / "sandbox"
    sandbox.mkdir(parents=True, exist_ok=True)
    (sandbox / "mentions.jsonl").write_text((project / "data" / "sample_mentions.jsonl").read_text()
                                            + (project / "data" / "sample_crowd_mentions.jsonl").read_text())
    assert offerbot("run", "--once").exit_code == 0
    assert offerbot("reconcile", "data/sample_transactions.csv").exit_code == 0

    app = bootstrap(load_settings(project / "bot.toml", read_environment(project / ".env")))
    try:
        report = app.dashboard_reports().latest("amex-mcdonalds")
    finally:
        app.close()

    assert report is not None
    assert report.min_members == 10
    summary = report.table("summary")
    shown = dict(zip((c.key for c in summary.columns), summary.values[0], strict=True))
    assert (shown["enrolments"], shown["redeemers"], shown["redemptions"]) == (16, 13, 13)
    assert (shown["spend"], shown["credits_paid"]) == (18966, 6500)
    coming_back = report.table("coming_back")
    assert coming_back.values[coming_back.rows.index("within_30")][0] == 13
