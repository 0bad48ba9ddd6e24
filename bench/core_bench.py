"""Core throughput: score, grade and decide a stream of synthetic persons, with peak memory per size.

    python -m bench.core_bench                 # 100,000 and 1,000,000 persons, 10 activities each
    python -m bench.core_bench --quick         # 10,000 and 100,000
    python -m bench.core_bench --persons 50000 --one   # a single size, in this process

Each size runs in its own subprocess so its peak RSS is its own; memory must not grow with the number
of persons (the stream is never held whole). Persons and activities come from seeded pools so that
generating them costs little next to evaluating them; the evaluation time is measured on its own.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from leadsync.domain.evaluate import PersonState, evaluate
from leadsync.domain.model import Activity, CrmFacts, OwnerKind, Person, System
from leadsync.rules.ruleset import RuleSet, load_ruleset

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ACTIVITIES_PER_PERSON = 10

TITLES = ["VP Marketing", "Marketing Manager", "Software Engineer", "Director of Sales", "CEO", "Student",
          "Head of Operations", "Analyst", "Chief Technology Officer", "Account Executive", ""]
DEPARTMENTS = ["Marketing", "Sales", "Engineering", "Operations", "Finance", "IT", None]
INDUSTRIES = ["Software", "Manufacturing", "Financial Services", "Healthcare", "Retail", "Education", None]
COUNTRIES = ["United States", "Germany", "United Kingdom", "France", "Brazil", "India", "Japan", None]
KINDS = [
    ("page_view", {"url": "https://example.com/blog/post"}), ("page_view", {"url": "https://example.com/pricing"}),
    ("page_view", {"url": "https://example.com/careers"}), ("email_open", {}), ("email_click", {}),
    ("form_fill", {"form_name": "Ebook download"}), ("download", {}), ("webinar_registered", {}),
    ("webinar_attended", {}), ("trial_request", {}), ("demo_request", {}), ("unsubscribe", {}),
    ("call", {"disposition": "no_answer", "direction": "outbound"}),
    ("call", {"disposition": "connected", "direction": "outbound"}), ("meeting", {"outcome": "scheduled"}),
]
STATUSES = [None, "Raw", "Inquiry", "Inquiry", "MQL", "SAL"]
FIRST_NAMES = ["Alex", "Maria", "Jonas", "Priya", "Chen", "Fatima", "Lucas", "Emma", "Kenji", "Olivia"]
LAST_NAMES = ["Becker", "Garcia", "Nakamura", "Okafor", "Silva", "Novak", "Johansson", "Patel", "Dubois", "Kowalski"]


def person_stream(count: int, seed: int) -> Iterator[PersonState]:
    """Deterministic persons built from pools; each call yields fresh objects, nothing is retained."""
    rng = random.Random(seed)
    templates = [
        # Realistic names and work addresses: the hygiene rules must let these through (a digit in a name
        # would disqualify everyone and measure only that path).
        Person(f"t{i}", email=f"{FIRST_NAMES[i % 10]}.{LAST_NAMES[i // 10 % 10]}{i}@company{i % 997}.com".lower(),
               first_name=FIRST_NAMES[i % 10], last_name=LAST_NAMES[i // 10 % 10],
               title=rng.choice(TITLES), department=rng.choice(DEPARTMENTS), industry=rng.choice(INDUSTRIES),
               country=rng.choice(COUNTRIES), employees=rng.choice([5, 40, 250, 1200, 20000, None]),
               annual_revenue=rng.choice([1e5, 5e6, 8e7, 2e9, None]), company=f"Company {i}")
        for i in range(2000)
    ]
    pool = []
    for i in range(20_000):
        kind, props = rng.choice(KINDS)
        at = NOW - timedelta(days=rng.uniform(0, 180))
        pool.append(Activity(System.HUBSPOT, f"a{i}", kind, at, props))
    crm = [CrmFacts(), CrmFacts(crm_status="Working - Contacted", owner_kind=OwnerKind.USER, owner_id="005x")]
    for index in range(count):
        start = rng.randrange(0, len(pool) - ACTIVITIES_PER_PERSON)
        template = templates[index % len(templates)]
        status = STATUSES[index % len(STATUSES)]
        yield PersonState(
            person=template, activities=pool[start:start + ACTIVITIES_PER_PERSON], crm=crm[index % 2],
            lifecycle_status=status, status_since=NOW - timedelta(days=30) if status else None,
        )


def run_one(persons: int, rules: RuleSet) -> dict[str, float]:
    evaluate_seconds = 0.0
    transitions = 0
    disqualified = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    clock = time.perf_counter
    for state in person_stream(persons, seed=7):
        t0 = clock()
        result = evaluate(state, rules, NOW)
        evaluate_seconds += clock() - t0
        transitions += result.transition is not None
        disqualified += result.hygiene.action.value == "disqualify"
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    activities = persons * ACTIVITIES_PER_PERSON
    return {
        "persons": persons,
        "activities": activities,
        "transitions": transitions,
        "disqualified_by_hygiene": disqualified,
        "evaluate_seconds": round(evaluate_seconds, 2),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "activities_per_second": round(activities / evaluate_seconds),
        # CPU time of the whole stream (generation included, ~3 us a person): steadier on a shared machine.
        "activities_per_cpu_second": round(activities / cpu),
        "persons_per_second": round(persons / evaluate_seconds),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 persons")
    parser.add_argument("--persons", type=int, action="append", help="sizes to run (repeatable)")
    parser.add_argument("--one", action="store_true", help="run a single size in this process (internal)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "core.json")
    args = parser.parse_args(argv)
    rules = load_ruleset(ROOT / "mappings")
    if args.one:
        print(json.dumps(run_one(args.persons[0], rules)))
        return 0
    sizes = args.persons or ([10_000, 100_000] if args.quick else [100_000, 1_000_000])
    results = []
    for size in sizes:
        out = subprocess.run(
            [sys.executable, "-m", "bench.core_bench", "--one", "--persons", str(size)],
            check=True, capture_output=True, text=True, cwd=ROOT,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    columns = ("persons", "activities", "activities_per_second", "activities_per_cpu_second", "evaluate_seconds",
               "wall_seconds", "cpu_seconds", "peak_rss_mib")
    print(" ".join(f"{c:>21}" for c in columns))
    for r in results:
        print(" ".join(f"{r[c]:>21,}" for c in columns))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": datetime.now(UTC).isoformat(), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
