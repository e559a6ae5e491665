"""Dashboard numbers benchmark: the pure functions of bot.domain.dashboard on one big campaign.

Generates one campaign's facts (200,000 enrolments, 1,000,000 purchases at the merchant, the
credits and clawbacks, 100,000 linked members who never enrolled), then times, in a fresh process
per size: compute (every table), suppress, build_report (both, plus the cards), the charts and
the JSON shape, each the median of --repeat runs, and reports the process's peak RSS. The same at
twice the size shows whether time is linear and how memory grows. No database: this is what the
page would cost on top of reading the facts (phase 2's bench/bench_dashboard.py measures that).
Run: .venv/bin/python -m bench.bench_dashboard_numbers [--enrolments N] [--purchases N] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from bot.domain.dashboard.charts import dashboard_charts
from bot.domain.dashboard.facts import CampaignFacts, Credit, DataSpan, Enrolment, History, Purchase, Terms
from bot.domain.dashboard.metrics import compute
from bot.domain.dashboard.privacy import suppress
from bot.domain.dashboard.report import build_report, report_data

OPEN = date(2026, 11, 1)
TARGET_MS = 300


def generate(enrolments: int, purchases: int, seed: int = 12) -> CampaignFacts:
    """Return one campaign's facts: 60% of members redeem, some bought before, the rest buy again."""
    rng = random.Random(seed)
    span = DataSpan(date(2026, 6, 1), date(2027, 7, 31))
    terms = Terms("amex-bench", "Bench Burgers", "USD", OPEN, date(2027, 6, 30), date(2027, 7, 31),
                  None, 500_000_000)
    days = (span.last_day - OPEN).days
    enrolled, bought, credits = [], [], []
    for n in range(enrolments):
        member = f"{1_000_000 + n}"
        start = OPEN + timedelta(days=int(rng.random() ** 2 * 240))
        enrolled.append(Enrolment(member, start))
        if rng.random() < 0.4:
            before = start - timedelta(days=rng.randint(1, 150))
            bought.append(Purchase(member, before, rng.randint(300, 5000)))
        if rng.random() < 0.6:
            on = min(terms.redeem_by, start + timedelta(days=int(rng.expovariate(1 / 12)) % 60))
            cents = rng.randint(500, 8000)
            refunded = cents if rng.random() < 0.02 else 0
            bought.append(Purchase(member, on, cents, True, refunded))
            credits.append(Credit(member, on, 500))
            if refunded:
                credits.append(Credit(member, min(span.last_day, on + timedelta(days=3)), -500))
    pool = enrolments // 2
    histories = [History(f"{5_000_000 + n}", span.first_day) for n in range(pool)]
    members = [e.member for e in enrolled]
    while len(bought) < purchases:
        if rng.random() < 0.1:
            member = f"{5_000_000 + rng.randrange(pool)}"
            on = span.first_day + timedelta(days=rng.randint(0, (span.last_day - span.first_day).days))
        else:
            member = rng.choice(members)
            on = OPEN + timedelta(days=rng.randint(0, days))
        bought.append(Purchase(member, on, rng.randint(300, 5000)))
    as_of = datetime(2027, 8, 1, 6, tzinfo=UTC)
    return CampaignFacts(terms, span, as_of, enrolled, bought, credits, histories)


def median_ms(work: Callable[[], object], repeat: int, *, warm: bool = False) -> float:
    """Return the median wall time of ``work`` in milliseconds (after one untimed call if ``warm``)."""
    if warm:
        work()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(enrolments: int, purchases: int, repeat: int) -> dict[str, float]:
    """Time each step on generated facts of this size (in this process) and read the peak RSS."""
    facts = generate(enrolments, purchases)
    computed = compute(facts, k=10)
    report = build_report(facts)
    figures = {
        "compute_ms": median_ms(lambda: compute(facts, k=10), repeat),
        "suppress_ms": median_ms(lambda: suppress(computed.tables, 10), repeat),
        "build_report_ms": median_ms(lambda: build_report(facts), repeat),
        "charts_ms": median_ms(lambda: dashboard_charts(report, prefix="bench"), repeat),
        "json_ms": median_ms(lambda: json.dumps(report_data(report)), repeat),
        "from_report_ms": median_ms(lambda: (dashboard_charts(report, prefix="bench"),
                                             json.dumps(report_data(report))), repeat),
    }
    with open("/proc/self/status", encoding="ascii") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    figures["peak_rss_mb"] = peak / 1024
    return figures


def main() -> None:
    """Run each size in a fresh process and print the figures with the 300 ms page target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrolments", type=int, default=200_000)
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.enrolments, args.purchases, args.repeat)))
        return
    print(f"dashboard numbers, pure functions (median of {args.repeat}); page target {TARGET_MS} ms")
    for scale in (1, 2):
        e, p = args.enrolments * scale, args.purchases * scale
        out = subprocess.run([sys.executable, "-m", "bench.bench_dashboard_numbers", "--child",
                              "--enrolments", str(e), "--purchases", str(p), "--repeat", str(args.repeat)],
                             check=True, capture_output=True, text=True).stdout
        figures = json.loads(out)
        print(f"{e:>9,} enrolments {p:>10,} purchases: " + ", ".join(
            f"{name.removesuffix('_ms').removesuffix('_mb')} {value:,.0f}"
            + (" MB" if name.endswith("_mb") else " ms") for name, value in figures.items()))


if __name__ == "__main__":
    main()
