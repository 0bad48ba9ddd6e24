"""Report benchmark: build every report, in every format, over a ledger of 1,000,000 transitions.

    python -m bench.report_bench [--quick] [--pg URL] [--no-sqlite] [--only TEXT] [--baseline] [--pure]

Data: ``bench.ledger_bench``'s bulk loader (100,000 persons, 10 transitions each over one year, through
``UnitOfWork.transitions.append``), plus one ``mql_accepted`` SLA clock per person (owned by CRM owner ids as
the engine records them: Salesforce user ids and HubSpot owner ids of the reps in ``mappings/routing.toml``,
mapped to their emails by the users/owners the sync stores, and one id nobody knows; met, late, open and
returned-to-pool mixed), one Salesforce lead record per person holding a lead source (a sixth hold none),
two score snapshots per person (two rule-set versions) and one activity per person. ``--quick``: a tenth of
that. Each report is built from a fresh ``Ledger.reading()`` snapshot and rendered to JSON and HTML; the time
is the median of 3 runs after a warm-up and includes reading the ledger, computing, and rendering; each line
also shows the 1-minute load average at its end (the machine may be shared).
``--baseline`` also times the funnel computed the database's other way (``sql`` aggregates on SQLite,
``stream`` on PostgreSQL) on the same data and load; ``--pure`` the way it was built first (every transition
before the window's end read into Python, then ``leadsync.domain.funnel.build_funnel``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.ledger_bench import (
    NOW,
    RESULTS,
    person_ids,
    postgres_database,
    sqlite_database,
    transitions_for,
    write_transitions,
)
from leadsync.domain.funnel import build_funnel
from leadsync.domain.model import Activity, System
from leadsync.ledger import Ledger, ScoreSnapshot, open_ledger, upgrade
from leadsync.ledger.schema import crm_owners, sla_clocks, sync_records
from leadsync.reports import Window, build_report, queries, render
from leadsync.reports import funnel as funnel_report
from leadsync.rules.ruleset import RuleSet, load_ruleset

MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"
REPEATS = 3
REPS = ("erin.enterprise@example.com", "emil.enterprise@example.com", "ivy.inside@example.com",
        "ian.inside@example.com", "isa.inside@example.com", "dora.dach@example.com")
# Clocks name CRM owner ids: each rep's Salesforce user id and HubSpot owner id, and one id the ledger does not know.
SF_USERS = {f"005{n:012d}AAA": email for n, email in enumerate(REPS, 1)}
HS_OWNERS = {str(7000 + n): email for n, email in enumerate(REPS, 1)}
OWNERS = (*SF_USERS, *HS_OWNERS, "005999999999999AAA")
SOURCES = ("Web", "Partner Referral", "Trade Show", "Advertisement", "Webinar", None)


def load_extras(ledger: Ledger, people: list[str], rng: random.Random) -> None:
    """SLA clocks, score snapshots and activities (setup, untimed)."""
    clocks, snaps, acts = [], [], []
    for person in people:
        started = NOW - timedelta(hours=rng.uniform(0, 365 * 24))
        due = started + timedelta(hours=rng.uniform(8, 80))
        row: dict[str, Any] = {"person_id": person, "sla": "mql_accepted", "owner_id": rng.choice(OWNERS),
                               "started_at": started, "due_at": due, "met_at": None, "stopped_at": None,
                               "breached_at": None, "stop_reason": None}
        fate = rng.random()
        if fate < 0.6:
            row["met_at"] = started + timedelta(hours=rng.uniform(0, 60))
        elif fate < 0.7 and due < NOW:
            row.update(breached_at=due, stopped_at=due + timedelta(hours=1), stop_reason="returned to the pool")
        elif fate < 0.75:
            row.update(stopped_at=started + timedelta(hours=1), stop_reason="owner changed")
        clocks.append(row)
        for version, shift in (("bench-v1", 0.0), ("bench-v2", 10.0)):
            at = started - timedelta(hours=rng.uniform(1, 48))
            score = rng.uniform(0, 220) + shift
            snaps.append(ScoreSnapshot(person, at, score, rng.choice("ABCDF"), version, {"page_view": score}))
        acts.append((person, Activity(System.HUBSPOT, f"a-{person}", rng.choice(("form_fill", "webinar_attended")),
                                      started - timedelta(days=1))))
    owners = [{"system": system, "owner_id": owner_id, "email": email, "active": True, "is_queue": False,
               "updated_at": NOW} for system, known in (("salesforce", SF_USERS), ("hubspot", HS_OWNERS))
              for owner_id, email in known.items()]
    records = [{"system": "salesforce", "kind": "lead", "record_id": f"00Q{n:012d}AAA", "person_id": person,
                "email": None, "modstamp": NOW, "fields": {"lead_source": rng.choice(SOURCES), "company": "Acme"},
                "facts": {}, "current": {}, "deleted": False, "facts_changed_at": NOW}
               for n, person in enumerate(people)]
    with ledger.unit_of_work() as uow:
        uow.connection.execute(sla_clocks.insert(), clocks)
        uow.connection.execute(crm_owners.insert(), owners)
        uow.connection.execute(sync_records.insert(), records)
        uow.scores.record(snaps, run_id="bench")
        uow.activities.upsert(acts)


def timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    """Median wall-clock and median CPU seconds of this process. On a shared machine the wall clock moves with
    the load; for SQLite (all work in-process) the CPU time is what a quiet machine would take."""
    result = action()
    durations, cpu = [], []
    for _ in range(REPEATS):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = action()
        durations.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(durations), statistics.median(cpu), result


def pure_funnel(ruleset: RuleSet, window: Window) -> Callable[[Ledger], Any]:
    """The funnel as built before its SQL aggregation: whole history into Python, then build_funnel."""
    def run(ledger: Ledger) -> int:
        with ledger.reading() as uow:
            history = queries.slim_transitions(uow.connection, window.end)
        stages = tuple(s.name for s in ruleset.lifecycle.funnel())
        settings = funnel_report.settings_for(ruleset, "week")
        funnel = build_funnel(history, stages, now=window.now, tz=ruleset.sla.calendar.tz, settings=settings,
                              since=window.since, until=window.end)
        built = funnel_report.report_from_funnel(funnel, ruleset, window, period="week")
        render(built, "json")
        render(built, "html")
        return sum(len(t.rows) for t in built.tables)
    return run


def cases(ruleset: RuleSet, baseline: bool = False, pure: bool = False,
          other: str = "sql") -> dict[str, Callable[[Ledger], Any]]:
    year = Window(NOW, since=NOW - timedelta(days=366), until=NOW)
    quarter = Window.default(NOW)
    day = Window(NOW, since=NOW - timedelta(days=1), until=NOW)

    def report(name: str, window: Window, **options: Any) -> Callable[[Ledger], Any]:
        def run(ledger: Ledger) -> int:
            built = build_report(name, ledger, ruleset, window, **options)
            render(built, "json")
            render(built, "html")
            return sum(len(t.rows) for t in built.tables)
        return run

    before = {f"funnel {other}, 90 days (other way)": report("funnel", quarter, method=other),
              f"funnel {other}, 1 year (other way)": report("funnel", year, method=other)} if baseline else {}
    if pure:
        before.update({"funnel via build_funnel, 90 days": pure_funnel(ruleset, quarter),
                       "funnel via build_funnel, 1 year": pure_funnel(ruleset, year)})
    return {
        "sla by owner, 90 days": report("sla", quarter, by="owner"),
        "sla by team, 1 year": report("sla", year, by="team"),
        "sla by source, 1 year": report("sla", year, by="source"),
        "funnel, 90 days": report("funnel", quarter),
        "funnel, 1 year": report("funnel", year),
        "audit, one person": report("audit", quarter, person="ls_0004242"),
        "audit, one day": report("audit", day),
        "scoring, 1 year": report("scoring", year),
        **before,
    }


def run_backend(name: str, url: str, persons: int, per_person: int, only: str | None = None,
                baseline: bool = False, pure: bool = False) -> dict[str, Any]:
    rng = random.Random(20261124)
    upgrade(url)
    ruleset = load_ruleset(MAPPINGS)
    figures: dict[str, Any] = {"backend": name, "persons": persons, "transitions": persons * per_person}
    with open_ledger(url) as ledger:
        people = person_ids(persons)
        with ledger.unit_of_work() as uow:
            uow.people.ensure(people, NOW)
        write_transitions(ledger, transitions_for(people, per_person, rng))
        load_extras(ledger, people, rng)
        if name == "postgresql":
            with ledger.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
                connection.commit()
        reports = {}
        other = "sql" if name == "sqlite" else "stream"
        for label, action in cases(ruleset, baseline, pure, other).items():
            if only and only not in label:
                continue
            seconds, cpu, rows = timed(lambda action=action: action(ledger))  # type: ignore[misc]
            load = os.getloadavg()[0]  # the machine is shared: the wall clock means little without it
            reports[label] = {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "rows": rows,
                              "load_1min": round(load, 2)}
            print(f"{name:<12}{label:<34}{seconds:>9.2f} s{cpu:>8.2f} s cpu{rows:>10,} rows  load {load:.2f}",
                  flush=True)
        figures["reports"] = reports
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 transitions for 10,000 persons")
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL server (a scratch database is created)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--only", metavar="TEXT", help="only the reports whose label contains TEXT")
    parser.add_argument("--baseline", action="store_true", help="also time the funnel computed the other way")
    parser.add_argument("--pure", action="store_true", help="also time the funnel via build_funnel (the first way)")
    args = parser.parse_args(argv)
    persons = 10_000 if args.quick else 100_000
    results = []
    if not args.no_sqlite:
        with sqlite_database() as url:
            results.append(run_backend("sqlite", url, persons, 10, args.only, args.baseline, args.pure))
    if args.pg:
        with postgres_database(args.pg) as url:
            results.append(run_backend("postgresql", url, persons, 10, args.only, args.baseline, args.pure))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"reports-{stamp}{'-quick' if args.quick else ''}.json"
    payload = {"benchmark": "reports", "when": stamp, "quick": args.quick, "python": platform.python_version(),
               "sqlalchemy": sa.__version__, "results": results}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
