"""The whole benchmark suite from one command: every bench, one table, one JSON.

    python -m bench [--quick] [--only NAME ...]          # NAME: core ledger reports sandbox sync latency

Each bench runs as ``python -m bench.<module>`` in its own process (so none inherits another's memory),
with ``--quick`` passed on. Its newest JSON in ``bench/results/`` (written during the run) is read back and
every case becomes one row; the API benches' cases carry ``calls_ratio``, the API calls over the
theoretical minimum (:mod:`bench.minimum`); benches that spend no API calls have none. The suite's JSON is
``bench/results/suite-<stamp>[-quick].json``; a bench that fails is a row with its error, not a silent gap.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("LEADSYNC_BENCH_RESULTS", ROOT / "bench" / "results"))

# name -> (module, prefix of the JSON it writes in bench/results)
BENCHES: dict[str, tuple[str, str]] = {
    "core": ("bench.core_bench", "core"),
    "ledger": ("bench.ledger_bench", "ledger"),
    "reports": ("bench.report_bench", "reports"),
    "sandbox": ("bench.sandbox_bench", "sandbox"),
    "sync": ("bench.sync_bench", "sync"),
    "latency": ("bench.latency_bench", "latency"),
}


def newest_result(prefix: str, since: float) -> Path | None:
    found = [p for p in RESULTS.glob(f"{prefix}*.json") if p.stat().st_mtime >= since]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def rows_of(name: str, data: Any) -> list[dict[str, Any]]:
    """One row per case; ``case`` names it, whatever each bench calls its list."""
    entries = (data.get("cases") or data.get("results") or [data]) if isinstance(data, dict) else data
    rows = []
    for index, entry in enumerate(entries):
        row = dict(entry) if isinstance(entry, dict) else {"value": entry}
        row.setdefault("case", f"{name} {row.get('backend', '')} {row.get('persons', index)}".replace("  ", " "))
        row.setdefault("calls_ratio", None)
        rows.append(row)
    return rows


def run_bench(name: str, quick: bool) -> list[dict[str, Any]]:
    module, prefix = BENCHES[name]
    started = time.time()
    command = [sys.executable, "-m", module, *(["--quick"] if quick else [])]
    print(f"bench: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    result = newest_result(prefix, started)
    if done.returncode != 0:
        return [{"case": name, "error": done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"],
                 "calls_ratio": None}]
    if result is None:  # a bench that prints its figures only
        return [{"case": name, "output": done.stdout.strip()[-2000:], "calls_ratio": None}]
    return rows_of(name, json.loads(result.read_text()))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, dict):
        return " / ".join(f"{k[:2]} {v}" for k, v in value.items())
    return str(value)


ALIASES = {"wall_s": "wall_seconds", "cpu_s": "cpu_seconds"}  # the older benches' names


def table(rows: Sequence[dict[str, Any]]) -> str:
    columns = ("case", "calls", "calls_ratio", "wall_s", "floor_s", "wall_over_floor", "cpu_s", "peak_rss_mib",
               "median_s")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['case']} | failed: {cell(row['error'])} |")
            continue
        lines.append("| " + " | ".join(cell(row.get(c, row.get(ALIASES.get(c, "")))) for c in columns) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (each bench's own --quick)")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), metavar="NAME",
                        help=f"benches to run (default: all of {', '.join(BENCHES)})")
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for name in args.only or list(BENCHES):
        rows.extend({"bench": name, **row} for row in run_bench(name, args.quick))
    print(table(rows))
    out = RESULTS / f"suite-{started:%Y%m%dT%H%M%SZ}{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps({"date": started.isoformat(), "quick": args.quick, "load_average": os.getloadavg(),
                               "cases": rows}, indent=1, default=str))
    print(out)
    failed = [r["case"] for r in rows if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
