"""Ledger benchmark: bulk-write transitions, then time the SLA and funnel report queries.

    python -m bench.ledger_bench [--quick] [--pg URL] [--no-sqlite]

Full size is 1,000,000 transitions for 100,000 persons (``--quick``: 100,000 for 10,000). Each backend
gets a fresh database (a temporary SQLite file; a throwaway PostgreSQL database created next to the one
``--pg`` names, dropped afterwards). Prints a table and writes JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from leadsync.domain.model import Move, Transition
from leadsync.ledger import Ledger, open_ledger, upgrade
from leadsync.ledger.schema import sla_clocks

RESULTS = Path(__file__).resolve().parent / "results"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
FUNNEL = ("Raw", "Inquiry", "MQL", "SAL", "SQL", "Opportunity", "Customer")
CHUNK = 50_000  # transitions per unit of work, as a busy sync cycle might commit
QUERY_REPEATS = 5


@dataclass
class BackendResult:
    backend: str
    persons: int
    transitions: int
    persons_seconds: float = 0.0
    transitions_seconds: float = 0.0
    queries: dict[str, dict[str, float | int]] = field(default_factory=dict)

    @property
    def transitions_per_second(self) -> float:
        return self.transitions / self.transitions_seconds if self.transitions_seconds else 0.0


def person_ids(count: int) -> list[str]:
    return [f"ls_{n:07d}" for n in range(count)]


def transitions_for(people: list[str], per_person: int, rng: random.Random) -> Iterator[Transition]:
    """``per_person`` transitions each, spread over the past year, walking the funnel with some recycling."""
    year = timedelta(days=365).total_seconds()
    for person in people:
        at = NOW - timedelta(seconds=rng.uniform(0, year))
        status: str | None = None
        for _ in range(per_person):
            if status is None:
                target, move = "Raw", Move.INITIAL
            elif status == "Customer" or rng.random() < 0.1:
                target, move = "Recycled", Move.RECYCLE
            else:
                index = FUNNEL.index(status) if status in FUNNEL else 1
                target, move = FUNNEL[min(index + 1, len(FUNNEL) - 1)], Move.FORWARD
            yield Transition(
                person, status, target, at, move, "bench.rule", "bench-v1", "benchmark",
                {"score": rng.randint(0, 200), "grade": "B"},
            )
            status = target
            at = min(at + timedelta(seconds=rng.uniform(0, year / per_person)), NOW)


def write_sla_clocks(ledger: Ledger, people: list[str], rng: random.Random) -> None:
    """One clock per person; 70% already met, the open ones due over the next two weeks (setup, untimed)."""
    rows = []
    for person in people:
        started = NOW - timedelta(hours=rng.uniform(0, 72))
        due = NOW + timedelta(hours=rng.uniform(-72, 14 * 24))
        met = started + timedelta(hours=rng.uniform(0, 48)) if rng.random() < 0.7 else None
        rows.append({"person_id": person, "sla": "mql_accept", "started_at": started, "due_at": due, "met_at": met})
    with ledger.unit_of_work() as uow:
        uow.connection.execute(sla_clocks.insert(), rows)


def timed(action: Callable[[], Any], repeats: int = QUERY_REPEATS) -> tuple[float, Any]:
    """Median wall time over ``repeats`` runs (after one warm-up) and the last result."""
    result = action()
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = action()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations), result


def run_backend(name: str, url: str, persons: int, per_person: int) -> BackendResult:
    rng = random.Random(20261124)
    upgrade(url)
    result = BackendResult(name, persons, persons * per_person)
    with open_ledger(url) as ledger:
        people = person_ids(persons)
        start = time.perf_counter()
        with ledger.unit_of_work() as uow:
            uow.people.ensure(people, NOW)
        result.persons_seconds = time.perf_counter() - start
        write_sla_clocks(ledger, people, rng)
        result.transitions_seconds = write_transitions(ledger, transitions_for(people, per_person, rng))
        if name == "postgresql":
            with ledger.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
                connection.commit()
        result.queries = run_queries(ledger)
    return result


def write_transitions(ledger: Ledger, items: Iterator[Transition]) -> float:
    """Seconds spent inside the ledger (appending and committing), not generating the test data."""
    spent = 0.0
    epoch = ledger.take_epoch("bench", NOW)
    while True:
        chunk = [t for _, t in zip(range(CHUNK), items, strict=False)]
        if not chunk:
            return spent
        start = time.perf_counter()
        with ledger.unit_of_work(epoch=epoch) as uow:
            uow.transitions.append(chunk, run_id="bench", epoch=epoch)
        spent += time.perf_counter() - start


def run_queries(ledger: Ledger) -> dict[str, dict[str, float | int]]:
    def due_next_hour() -> int:
        with ledger.reading() as uow:
            return len(uow.reports.open_clocks_due(NOW, NOW + timedelta(hours=1)))

    def per_week(days: int) -> Callable[[], int]:
        def query() -> int:
            with ledger.reading() as uow:
                since, until = NOW - timedelta(days=days), NOW + timedelta(seconds=1)
                counts = uow.reports.transitions_per_stage_per_week(since, until)
            return sum(c.count for c in counts)

        return query

    out: dict[str, dict[str, float | int]] = {}
    for label, query in (
        ("open SLA clocks due in the next hour", due_next_hour),
        ("transitions per stage per week, last 13 weeks", per_week(91)),
        ("transitions per stage per week, all 52 weeks", per_week(366)),
    ):
        seconds, rows = timed(query)
        out[label] = {"seconds": round(seconds, 4), "rows": rows}
    return out


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as folder:
        yield f"sqlite:///{folder}/ledger.db"


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    url = sa.make_url(admin_url)
    name = f"leadsync_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def print_table(results: list[BackendResult]) -> None:
    print(f"{'backend':<12}{'persons':>10}{'transitions':>13}{'write s':>10}{'transitions/s':>15}")
    for r in results:
        print(f"{r.backend:<12}{r.persons:>10,}{r.transitions:>13,}{r.transitions_seconds:>10.2f}"
              f"{r.transitions_per_second:>15,.0f}")
    print()
    print(f"{'backend':<12}{'query':<50}{'median s':>10}{'rows':>10}")
    for r in results:
        for label, figures in r.queries.items():
            print(f"{r.backend:<12}{label:<50}{figures['seconds']:>10.4f}{figures['rows']:>10,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 transitions for 10,000 persons")
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL server to benchmark (a scratch database is created)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    args = parser.parse_args(argv)
    persons = 10_000 if args.quick else 100_000
    per_person = 10

    results = []
    if not args.no_sqlite:
        with sqlite_database() as url:
            results.append(run_backend("sqlite", url, persons, per_person))
    if args.pg:
        with postgres_database(args.pg) as url:
            results.append(run_backend("postgresql", url, persons, per_person))
    print_table(results)

    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"ledger-{stamp}{'-quick' if args.quick else ''}.json"
    payload = {
        "benchmark": "ledger", "when": stamp, "quick": args.quick, "python": platform.python_version(),
        "sqlalchemy": sa.__version__,
        "results": [{**asdict(r), "transitions_per_second": round(r.transitions_per_second)} for r in results],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
