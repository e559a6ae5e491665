"""Input-shape benchmark: time and peak memory of reading awkward transaction files.

Writes files shaped to hurt a CSV reader (50 MB lines of millions of short fields, plain and
quoted, a 5 MB
line, headers with 10,000 and 30,000 extra columns) and a normal 1,000,000-row file, then, for
each, in a fresh process: a plain `wc -l`-like pass over the bytes (the floor), offerbot reading
it (inspect, header, every row checked by the scanner as reconciliation does, no database) and
offerbot writing the redacted copy the inbox keeps. It prints seconds, the ratio to the `wc -l`
pass of the same process, peak RSS, and what became of the file.
Run: .venv/bin/python -m bench.bench_shapes [--rows N] [--code DIR] [--timeout S] [--keep DIR]
(--code DIR reads with the bot package found in DIR instead, e.g. an older checkout; only the
reading is measured then.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = ("transaction_id,card_number,merchant_id,merchant_name,amount,currency,transaction_date,type,"
          "original_transaction_id")
CARD = "370000000000010"  # bench.data.card_number(1); the child imports nothing heavy for it
ROW = f"T1,{CARD},MID-000-A,Merchant,12.50,USD,2026-11-21,purchase,\n"
CODE_VAR = "BENCH_SHAPES_CODE"  # the folder holding the bot package to measure (--code)
SHAPES = {
    "50 MB line of 25M short fields": "long50",
    "50 MB line of 12.5M quoted fields": "quoted50",
    "5 MB line (one 5 MB field)": "long5",
    "header + 10,000 extra columns": "wide10k",
    "header + 30,000 extra columns": "wide30k",
    "normal file": "normal",
}


def write_shape(path: Path, shape: str, rows: int) -> None:
    """Write the file of one shape."""
    with path.open("w", encoding="utf-8", newline="") as out:
        if shape == "long50":
            out.write(HEADER + "\n")
            for _ in range(250):
                out.write("a," * 100_000)  # 25,000,000 fields, 50 MB, one line
            out.write("\n" + ROW)
        elif shape == "quoted50":
            out.write(HEADER + "\n")
            for _ in range(125):
                out.write('"a",' * 100_000)  # 12,500,000 quoted fields, 50 MB, one line
            out.write("\n" + ROW)
        elif shape == "long5":
            out.write(HEADER + "\n" + ROW)
            out.write(f"T2,{CARD},MID-000-A,{'x' * 5_000_000},1.00,USD,2026-11-21,purchase,\n")
            out.write(ROW.replace("T1,", "T3,"))
        elif shape in ("wide10k", "wide30k"):
            extra = 10_000 if shape == "wide10k" else 30_000
            out.write(HEADER + "".join(f",extra_{n}" for n in range(extra)) + "\n")
            out.write(ROW * 1000)
    if shape == "normal":
        from bench.data import write_transactions  # imports the database layer: not in the child

        write_transactions(path, rows, members=100_000, campaigns=200, enrolled={}, seed=1)


def wc_pass(path: Path) -> float:
    """Count the file's line breaks reading 1 MiB at a time (what `wc -l` does): the floor."""
    started = time.perf_counter()
    with path.open("rb") as raw:
        lines = 0
        while chunk := raw.read(1 << 20):
            lines += chunk.count(b"\n")
    return time.perf_counter() - started


def read_file(path: Path) -> str:
    """Read the file as reconciliation does (every row checked, no database); say what came of it."""
    from bot.adapters.transaction_csv import inspect_file
    from bot.domain.cards import Fingerprinter
    from bot.errors import FileRejected
    from bot.services.file_scan import Interest, read_columns, scan

    try:
        facts = inspect_file(path)
        columns = read_columns(facts)
    except FileRejected as exc:
        return f"refused: {str(exc)[:90]}"
    rows = rejected = 0
    for batch in scan(facts, columns, 0, Interest({}, {}), Fingerprinter(b"b" * 32), 200_000):
        rows += batch.rows
        rejected += len(batch.rejects)
    return f"{rows:,} rows, {rejected:,} rejected"


def redact_file(path: Path) -> str:
    """Write the redacted copy the inbox keeps of the file."""
    from bot.adapters.kept_inputs import write_redacted_copy

    target = path.with_name(path.name + ".kept")
    write_redacted_copy(path, target, max_line_bytes=8192)
    size = target.stat().st_size
    target.unlink()
    return f"copy of {size / 1e6:,.1f} MB"


def peak_rss_mb() -> float:
    """Return this process's peak resident memory in MiB (VmHWM, Linux; else ru_maxrss)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: Path, what: str) -> None:
    """Measure one pass over one file in this (fresh) process; print JSON."""
    code = os.environ.get(CODE_VAR)
    if code:
        sys.path.insert(0, code)  # before the working directory, which `python -m` puts first
    import bot.services.file_scan  # imported before the clock starts

    if what == "redact":
        import bot.adapters.kept_inputs
    floor = wc_pass(path)
    started, cpu = time.perf_counter(), time.process_time()
    outcome = read_file(path) if what == "read" else redact_file(path)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    json.dump({"seconds": seconds, "cpu": cpu, "wc": floor, "peak_mb": peak_rss_mb(), "outcome": outcome,
               "code": str(Path(bot.services.file_scan.__file__).parents[2])}, sys.stdout)


def measure(path: Path, what: str, code: Path | None, timeout: float) -> dict[str, object]:
    """Run ``child`` in a fresh process (with the bot package from ``code``, if given)."""
    env = dict(os.environ)
    if code is not None:
        env[CODE_VAR] = str(code.resolve())
    process = subprocess.Popen([sys.executable, "-m", "bench.bench_shapes", "--child", str(path), what],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        peak = _peak_of(process.pid)
        process.kill()
        process.communicate()
        return {"seconds": None, "wc": None, "peak_mb": peak, "outcome": f"not finished in {timeout:.0f} s"}
    if process.returncode:
        return {"seconds": None, "wc": None, "peak_mb": None, "outcome": f"failed: {err.strip()[-200:]}"}
    result: dict[str, object] = json.loads(out)
    return result


def _peak_of(pid: int) -> float | None:
    """Return a running process's peak resident memory in MiB (Linux), or None."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the normal file")
    parser.add_argument("--code", type=Path, help="read with the bot package in this folder instead")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a pass is given up")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    parser.add_argument("--only", choices=sorted(SHAPES.values()), help="measure this shape only")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1])
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        passes = ["read"] if args.code else ["read", "redact"]
        print(f"the bot package measured: {args.code.resolve() if args.code else Path.cwd()}")
        print(f"{'shape':<34} {'size':>8} {'pass':<7} {'seconds':>8} {'CPU s':>6} {'wc -l':>7} {'ratio':>7} "
              f"{'peak RSS':>9}  outcome")
        for label, shape in SHAPES.items():
            if args.only and shape != args.only:
                continue
            path = root / f"{shape}.csv"
            write_shape(path, shape, args.rows)
            size = path.stat().st_size / 1e6
            for what in passes:
                run = measure(path, what, args.code, args.timeout)
                if "code" in run and args.code and Path(str(run["code"])) != args.code.resolve():
                    raise SystemExit(f"measured {run['code']}, not {args.code}")
                seconds, floor, peak = run["seconds"], run["wc"], run["peak_mb"]
                shown = f"{seconds:8.2f}" if isinstance(seconds, float) else f"{'-':>8}"
                cpu = run.get("cpu")
                shown += f" {cpu:6.2f}" if isinstance(cpu, float) else f" {'-':>6}"
                ratio = (f"{seconds / floor:6.0f}x" if isinstance(seconds, float) and isinstance(floor, float)
                         and floor > 0 else f"{'-':>7}")
                wc = f"{floor:7.3f}" if isinstance(floor, float) else f"{'-':>7}"
                memory = f"{peak:6.0f} MB" if isinstance(peak, float) else f"{'-':>9}"
                name = f"{label} ({args.rows:,} rows)" if shape == "normal" else label
                print(f"{name:<34} {size:6.1f}MB {what:<7} {shown} {wc} {ratio} {memory}  {run['outcome']}")


if __name__ == "__main__":
    main()
