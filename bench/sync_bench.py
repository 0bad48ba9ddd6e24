"""Sync cycles against the sandbox: full, echo, incremental (1% changed) and idle, per size and rate profile.

    python -m bench.sync_bench --persons 10000 --persons 30000 [--throttled] [--unthrottled]
    python -m bench.sync_bench --worker LEDGER_URL MODE      # internal: one cycle in its own process

The sandbox runs as `leadsync sandbox serve` in a child process (with or without its HubSpot limits) and
every cycle runs in a fresh child process (``--worker``), so the peak RSS and CPU time are the sync's
alone. Before each cycle the bench counts, through the APIs, the records each stream must return (all
of them for the full sync; those changed since the previous cycle began for the others), which
``bench.minimum`` turns into the theoretical minimum. Between cycles it waits out HubSpot's lag margin
(30 s) so each cycle sees everything that changed before it began. The incremental changes are form
fills on 1% of persons, made as users through the control endpoint. A naive record-by-record sample
runs last (``bench.naive_baseline``). Results: ``bench/results/sync-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from simple_salesforce.format import format_soql

from bench.minimum import (
    HS_ENGAGEMENTS,
    archived_owners_needed,
    calls_ratio,
    hubspot_floor_seconds,
    hubspot_minimum,
    salesforce_floor_seconds,
    salesforce_minimum,
)
from bench.naive_baseline import naive_cycle_calls, sample_hubspot, sample_salesforce
from bench.sandbox_bench import API, hs_session, sf_session
from leadsync.app import open_sync_ledger, utc_now
from leadsync.config.settings import Settings
from leadsync.connectors.hubspot import HubSpotConnector
from leadsync.connectors.port import CrmConnector
from leadsync.connectors.ratelimit import CallCounters
from leadsync.connectors.salesforce import SalesforceConnector
from leadsync.domain.model import System
from leadsync.ledger.schema import write_intents
from leadsync.logging import configure_logging
from leadsync.rules.ruleset import load_ruleset
from leadsync.sync.cycle import EngineConfig, SyncEngine

ROOT = Path(__file__).resolve().parents[1]
UNLIMITED = 1_000_000_000
MODES = ("unthrottled", "throttled")
KINDS = ("full", "echo", "incremental", "idle")


def settings_for(ledger_url: str, mode: str) -> Settings:
    """Defaults (HubSpot 190 per 10 s, search 5/s, half the daily allocations) or, unthrottled, no pacing."""
    base = Settings()
    hubspot = base.hubspot
    if mode == "unthrottled":
        hubspot = hubspot.model_copy(update={"burst_per_10s": UNLIMITED, "search_per_second": float(UNLIMITED),
                                             "daily_limit": UNLIMITED, "daily_share": 1.0})
    return base.model_copy(update={
        "ledger": base.ledger.model_copy(update={"url": ledger_url}),
        "daemon": base.daemon.model_copy(update={"mappings_dir": ROOT / "mappings"}),
        "hubspot": hubspot,
    })


def connectors_for(settings: Settings, fields: Any, env: Mapping[str, str],
                   counters: CallCounters) -> list[CrmConnector]:
    """As ``leadsync.app.sandbox_connectors``, plus a shared counter of 429s, retries and pacing waits."""
    ca = Path(env["LEADSYNC_SANDBOX_CA"])
    sf_section = settings.salesforce.model_copy(update={
        "auth": "username_password", "login_url": env["LEADSYNC_SANDBOX_SF_URL"],
        "username": env["LEADSYNC_SANDBOX_SF_USERNAME"], "client_id": env["LEADSYNC_SANDBOX_SF_CLIENT_ID"],
        "ca_bundle": ca})
    sandboxed = settings.model_copy(update={"salesforce": sf_section})
    secrets = {"password": env["LEADSYNC_SANDBOX_SF_PASSWORD"],
               "security_token": env["LEADSYNC_SANDBOX_SF_SECURITY_TOKEN"],
               "client_secret": env["LEADSYNC_SANDBOX_SF_CLIENT_SECRET"]}
    return [
        SalesforceConnector.from_settings(sandboxed, fields, credentials_overrides=secrets, counters=counters),
        HubSpotConnector.from_settings(sandboxed, fields, access_token=env["LEADSYNC_SANDBOX_HS_TOKEN"],
                                       host=env["LEADSYNC_SANDBOX_HS_URL"], ca_bundle=ca, counters=counters),
    ]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    with Path("/proc/self/statm").open() as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_cycle(ledger_url: str, mode: str) -> dict[str, Any]:
    settings = settings_for(ledger_url, mode)
    ruleset = load_ruleset(settings.daemon.mappings_dir)
    ledger = open_sync_ledger(settings, [])
    counters = CallCounters()
    connectors = connectors_for(settings, ruleset.fields, os.environ, counters)
    engine = SyncEngine(ledger, ruleset, connectors, EngineConfig.from_settings(settings), utc_now)
    base_rss = current_rss_mib()
    began = utc_now() - timedelta(seconds=1)
    wall, cpu = time.perf_counter(), time.process_time()
    report = engine.run_once()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    # A streamed cycle keeps no plans: the records written (and cleared first) come from its totals. The
    # follow-ups' writes (SLA fields, routed owners) are changes too: a record they touch that the plans do
    # not is one more record to write (the minimum counts records, so fields sent apart cost nothing).
    totals = report.totals
    targets = {key: set(ids) for key, ids in totals.targets.items()}
    followups = followup_targets(ledger, began)
    for system, obj, record_id in followups:
        targets.setdefault((System(system), obj), set()).add(record_id)
    written: dict[str, dict[str, int]] = {}
    cleared: dict[str, int] = {}
    for (system, obj), ids in targets.items():
        written.setdefault(system.value, {})[obj] = len(ids)
    for (system, _obj), ids in totals.cleared.items():
        cleared[system.value] = cleared.get(system.value, 0) + len(ids)
    planned = {(s.value, o, r) for (s, o), ids in totals.targets.items() for r in ids}
    result = {
        "status": report.status, "errors": report.errors[:5],
        "api_calls": report.api_calls,
        "by_endpoint": {c.system.value: c.calls().by_endpoint for c in connectors},
        "counters": counters.snapshot(),
        "written": written, "cleared": cleared,
        "pull": {"pages": report.pull.pages, "records": report.pull.records, "echoes": report.pull.echoes,
                 "people_changed": len(report.pull.people_changed), "activities": report.pull.activities},
        "plans": totals.people, "writes": totals.writes, "transitions": totals.transitions,
        "applied": report.outcome.applied, "failed": report.outcome.failed,
        "followup_records": len(followups), "followup_records_not_planned": len(followups - planned),
        "wall_s": wall, "cpu_s": cpu, "base_rss_mib": base_rss, "peak_rss_mib": rss_mib(),
    }
    for connector in connectors:
        closer = getattr(connector, "close", None)
        if callable(closer):
            closer()
    ledger.close()
    return result


def followup_targets(ledger: Any, since: datetime) -> set[tuple[str, str, str]]:
    """(system, object, record id) of the queued follow-up intents (origin other than the sync's own)
    dispatched since ``since``: the SLA fields and routed owners this cycle wrote."""
    t = write_intents
    query = (sa.select(t.c.target, t.c.object, t.c.record_id).distinct()
             .where(t.c.origin != "sync", t.c.dispatched_at >= since))
    with ledger.engine.connect() as connection:
        return {(r.target, r.object, r.record_id) for r in connection.execute(query)}


# ----- the driver ---------------------------------------------------------------------------------
SF_STREAMS = ("User", "Group", "Lead", "Contact", "Opportunity", "Task", "Event", "CampaignMember")
HS_SEARCHED = ("contacts", *HS_ENGAGEMENTS)
# Cycles start a default sync interval apart and more: past HubSpot's lag margin (30 s), so each cycle sees
# all that changed before it, and past the re-read overlap (30 s), so it does not re-read the last one's writes.
LAG_WAIT_SECONDS = 61.0
# Results go to bench/results of the checkout the bench runs from, or where LEADSYNC_BENCH_RESULTS says (a
# snapshot of a commit, see docs/benchmarks.md, writes back into the working checkout).
RESULTS = Path(os.environ.get("LEADSYNC_BENCH_RESULTS", ROOT / "bench" / "results"))
COMMIT = os.environ.get("LEADSYNC_BENCH_COMMIT", "working tree")
SF_DAILY_SHARE = 50_000  # the sync's default share (half) of the emulated org's 100,000 daily calls


class Served:
    """`leadsync sandbox serve` in a child process, and the settings it printed."""

    def __init__(self, persons: int, *, rate_limits: bool, log: Path) -> None:
        command = [sys.executable, "-m", "leadsync", "sandbox", "serve", "--persons", str(persons)]
        if not rate_limits:
            command.append("--no-rate-limits")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
        self.env: dict[str, str] = {}
        assert self.process.stdout is not None
        while "LEADSYNC_SANDBOX_CA" not in self.env:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"sandbox serve exited before printing its settings; see {log}")
            key, _, value = line.strip().partition("=")
            self.env[key] = value

    def rss_mib(self) -> float:
        """The sandbox process's resident memory now (its org and everything the cycles wrote)."""
        with Path(f"/proc/{self.process.pid}/status").open() as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)


def _hs_call(session: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
    """One HubSpot call from the bench itself, waiting out 429s (the bench's own counting calls)."""
    while True:
        reply = session.request(method, url, timeout=60, **kwargs)
        if reply.status_code == 429:
            time.sleep(float(reply.headers.get("Retry-After", 1)))
            continue
        reply.raise_for_status()
        return reply.json() if reply.content else None


def _listed(session: requests.Session, url: str, params: dict[str, Any], ids: set[str] | None = None) -> int:
    total, after = 0, None
    while True:
        page = _hs_call(session, "GET", url, params={**params, **({"after": after} if after else {})})
        total += len(page.get("results") or ())
        if ids is not None:
            ids.update(str(r["id"]) for r in page.get("results") or ())
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            return total


def salesforce_rows(env: Mapping[str, str], since: datetime | None) -> dict[str, int]:
    session, instance = sf_session(dict(env))
    rows = {}
    for name in SF_STREAMS:
        soql = (format_soql("SELECT Id FROM {:literal} WHERE SystemModstamp > {}", name, since) if since
                else format_soql("SELECT Id FROM {:literal}", name))
        reply = session.get(instance + API + "/query", params={"q": soql}, timeout=120)
        reply.raise_for_status()
        rows[name] = int(reply.json()["totalSize"])
    return rows


def hubspot_rows(env: Mapping[str, str], since: datetime | None, active_owners: set[str]) -> dict[str, int]:
    """Records each HubSpot stream must return; the active owners' ids go into ``active_owners``."""
    session, base = hs_session(dict(env)), env["LEADSYNC_SANDBOX_HS_URL"]
    rows = {"owners": _listed(session, base + "/crm/v3/owners", {"limit": 500, "archived": "false"}, active_owners),
            "owners_archived": _listed(session, base + "/crm/v3/owners", {"limit": 500, "archived": "true"})}
    for name in HS_SEARCHED:
        stamp = "lastmodifieddate" if name == "contacts" else "hs_lastmodifieddate"
        filters = ([{"filters": [{"propertyName": stamp, "operator": "GT",
                                  "value": str(int(since.timestamp() * 1000))}]}] if since else [])
        answer = _hs_call(session, "POST", f"{base}/crm/v3/objects/{name}/search",
                          json={"filterGroups": filters, "limit": 1, "properties": ["hs_object_id"]})
        rows[name] = int(answer["total"])
    rows["contacts_archived"] = _listed(session, base + "/crm/v3/objects/contacts", {"limit": 100, "archived": "true"})
    params: dict[str, Any] = {"objectType": "contact"}
    if since:
        params["occurredAfter"] = since.isoformat().replace("+00:00", "Z")
    rows["events"] = _events_total(session, base + "/events/v3/events", params)
    return rows


def _events_total(session: requests.Session, url: str, params: dict[str, Any]) -> int:
    """How many events the listing holds, in about 2 log2(N / 1,000) calls instead of N / 1,000.

    The events API gives no total, and every listing call makes the emulator sort all of a type's events
    (about a second at 100,000 persons, 530,000 events), so listing them all to count them took the bench
    ten minutes before the full sync. The sandbox's ``after`` cursor is the offset into the filtered list
    (real HubSpot's is opaque; this bench only talks to the sandbox), so the last page is found by
    doubling the offset, then bisecting, in whole pages."""
    page = 1_000

    def held(offset: int) -> int:
        answer = _hs_call(session, "GET", url, params={**params, "limit": page, "after": str(offset)})
        return len(answer.get("results") or ())

    first = held(0)
    if first < page:
        return first
    full, empty = 0, 1  # in pages: the page at `full` is full, the one at `empty` is not known yet
    while (n := held(empty * page)) == page:
        full, empty = empty, empty * 2
    if n:
        return empty * page + n
    while empty - full > 1:
        middle = (full + empty) // 2
        n = held(middle * page)
        if n == page:
            full = middle
        elif n == 0:
            empty = middle
        else:
            return middle * page + n
    return empty * page


def act_on_one_percent(env: Mapping[str, str], persons: int) -> int:
    """Form fills on 1% of persons' HubSpot contacts, as users, through the control endpoint."""
    session, base = hs_session(dict(env)), env["LEADSYNC_SANDBOX_HS_URL"]
    wanted, after = max(1, persons // 100), None
    ids: list[str] = []
    while len(ids) < wanted:
        page = _hs_call(session, "GET", base + "/crm/v3/objects/contacts",
                        params={"limit": 100, **({"after": after} if after else {})})
        ids.extend(str(r["id"]) for r in page["results"])
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            break
    for contact_id in ids[:wanted]:
        _hs_call(session, "POST", base + "/__control/hubspot/act",
                 json={"action": "submit_form", "args": {"contact": contact_id, "form_name": "Bench: pricing"}})
    return min(wanted, len(ids))


def run_worker(env: Mapping[str, str], ledger_url: str, mode: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.sync_bench", "--worker", ledger_url, mode],
                         env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the sync worker failed ({mode}):\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def assess(kind: str, mode: str, persons: int, rows: Mapping[str, Mapping[str, int]],
           cycle: Mapping[str, Any], *, archived_owners: bool = True) -> dict[str, Any]:
    """The cycle's calls against the minimum and its wall time against the rate-limit floor."""
    written = cycle["written"]
    minimum = {
        "salesforce": salesforce_minimum(rows["salesforce"], written.get("salesforce", {})),
        "hubspot": hubspot_minimum(rows["hubspot"], sum(written.get("hubspot", {}).values()),
                                   cleared=cycle["cleared"].get("hubspot", 0), archived_owners=archived_owners),
    }
    calls = {s: c["reads"] + c["writes"] for s, c in cycle["api_calls"].items()}
    hs_search = sum(n for e, n in cycle["by_endpoint"].get("hubspot", {}).items() if e.endswith(".search"))
    floor = None
    if mode == "throttled":
        floor = max(hubspot_floor_seconds(calls.get("hubspot", 0), hs_search),
                    salesforce_floor_seconds(calls.get("salesforce", 0), SF_DAILY_SHARE))
    total_min = sum(m.total for m in minimum.values())
    return {
        "case": f"sync {kind} {persons:,} {mode}", "kind": kind, "mode": mode, "persons": persons,
        "calls": calls, "hubspot_search_calls": hs_search,
        "minimum": {s: {"reads": m.reads, "writes": m.writes, "detail": dict(m.detail)} for s, m in minimum.items()},
        "calls_ratio_by_system": {s: round(calls_ratio(calls.get(s, 0), m.total), 3) for s, m in minimum.items()},
        "calls_ratio": round(calls_ratio(sum(calls.values()), total_min), 3),
        "floor_s": None if floor is None else round(floor, 1),
        "wall_over_floor": None if not floor else round(cycle["wall_s"] / floor, 2),
        "rows": rows, **{k: cycle[k] for k in cycle if k not in ("api_calls",)},
    }


def bench_size(persons: int, mode: str, workdir: Path, naive_sample: int,
               kinds: tuple[str, ...] = KINDS) -> list[dict[str, Any]]:
    seeding = time.perf_counter()
    served = Served(persons, rate_limits=mode == "throttled", log=workdir / f"serve-{persons}-{mode}.log")
    print(f"  sandbox up in {time.perf_counter() - seeding:.1f}s, {served.rss_mib():.0f} MiB", file=sys.stderr,
          flush=True)
    ledger_url = f"sqlite:///{workdir / f'ledger-{persons}-{mode}.db'}"
    cases: list[dict[str, Any]] = []
    try:
        since: datetime | None = None
        owners_before: set[str] | None = None
        for kind in kinds:
            if kind == "incremental":
                changed = act_on_one_percent(served.env, persons)
                print(f"  acted on {changed} contacts", file=sys.stderr, flush=True)
            owners_now: set[str] = set()
            rows = {"salesforce": salesforce_rows(served.env, since),
                    "hubspot": hubspot_rows(served.env, since, owners_now)}
            if kind != "full" or mode == "throttled":
                time.sleep(LAG_WAIT_SECONDS if kind != "full" else 11.0)  # lag margin; a fresh 10 s window
            started = datetime.now(UTC) - timedelta(seconds=1)
            cycle = run_worker(served.env, ledger_url, mode)
            since = started
            case = assess(kind, mode, persons, rows, cycle,
                          archived_owners=archived_owners_needed(owners_before, owners_now))
            owners_before = owners_now
            case["sandbox_rss_mib"] = served.rss_mib()
            case["load_average"] = os.getloadavg()
            cases.append(case)
            print(f"  {case['case']}: {case['status']} calls {case['calls']} ratio {case['calls_ratio']} "
                  f"wall {cycle['wall_s']:.1f}s floor {case['floor_s']} rss {cycle['peak_rss_mib']:.0f} MiB",
                  file=sys.stderr, flush=True)
        if naive_sample > 0:
            cases.extend(naive_cases(served.env, cases, naive_sample))
    finally:
        served.stop()
    return cases


def naive_cases(env: Mapping[str, str], cases: list[dict[str, Any]], sample: int) -> list[dict[str, Any]]:
    """The naive script's cost per cycle, from a measured sample scaled to every person record: a script
    without a ledger cannot tell what changed, so each of its runs is the full pass."""
    samples = {s.system: s for s in (sample_salesforce(env, sample), sample_hubspot(env, sample))}
    full = cases[0]["rows"]
    sf_records = {o: full["salesforce"][o] for o in ("Lead", "Contact")}
    calls = naive_cycle_calls(sf_records, full["hubspot"]["contacts"])
    wall = (samples["salesforce"].seconds_per_record * sum(sf_records.values())
            + samples["hubspot"].seconds_per_record * full["hubspot"]["contacts"])
    out = []
    for case in cases:
        ours = sum(case["calls"].values())
        minimum = sum(m["reads"] + m["writes"] for m in case["minimum"].values())
        out.append({"case": "naive " + case["case"].removeprefix("sync "), "kind": "naive", "mode": case["mode"],
                    "persons": case["persons"], "calls": calls, "calls_ratio": round(sum(calls.values()) / minimum, 3),
                    "naive_over_ours": round(sum(calls.values()) / ours, 1) if ours else None,
                    "wall_s_estimated": round(wall, 1),
                    "sample": {s: {"records": v.records, "calls": v.calls, "wall_s": round(v.wall_s, 3),
                                   "rate_limited": v.rate_limited} for s, v in samples.items()}})
    return out


def drive(sizes: list[int], modes: list[str], naive_sample: int, *, quick: bool = False,
          kinds: tuple[str, ...] = KINDS) -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="leadsync-syncbench-"))
    started = datetime.now(UTC)
    cases: list[dict[str, Any]] = []
    out = RESULTS / f"sync-{started:%Y%m%dT%H%M%SZ}{'-quick' if quick else ''}.json"
    for mode in modes:
        for persons in sizes:
            print(f"sync bench: {persons:,} persons, {mode}", file=sys.stderr, flush=True)
            cases.extend(bench_size(persons, mode, workdir, naive_sample, kinds))
            out.write_text(json.dumps({"date": started.isoformat(), "load_average": os.getloadavg(),
                                       "commit": COMMIT, "cases": cases}, indent=1, default=str))
    print(out)
    return out


def markdown(cases: list[dict[str, Any]]) -> str:
    """The sync cases as the table in docs/benchmarks.md."""
    lines = ["| case | SF calls (min) | HS calls (min) | calls / min | wall s | floor s | wall / floor | CPU s "
             "| peak RSS MiB | 429s | naive calls | naive / ours |", "|" + "---|" * 12]
    naive = {c["case"].removeprefix("naive "): c for c in cases if c["kind"] == "naive"}
    for c in cases:
        if c["kind"] == "naive":
            continue
        mins = {s: m["reads"] + m["writes"] for s, m in c["minimum"].items()}
        n = naive.get(c["case"].removeprefix("sync "), {})
        limited = sum(v.get("rate_limited", 0) for v in c["counters"].values())
        lines.append(
            f"| {c['kind']} {c['persons']:,} {c['mode']} | {c['calls'].get('salesforce', 0)} ({mins['salesforce']}) "
            f"| {c['calls'].get('hubspot', 0)} ({mins['hubspot']}) | {c['calls_ratio']:.3f} | {c['wall_s']:.1f} "
            f"| {'none' if c['floor_s'] is None else c['floor_s']} | {c['wall_over_floor'] or '-'} | {c['cpu_s']:.1f} "
            f"| {c['peak_rss_mib']:.0f} | {limited} | {sum(n.get('calls', {}).values()):,} "
            f"| {n.get('naive_over_ours', '-')} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markdown", type=Path, metavar="JSON", help="print a results file as a Markdown table")
    parser.add_argument("--worker", nargs=2, metavar=("LEDGER_URL", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--persons", type=int, action="append", help="sizes (repeatable; default 10,000)")
    parser.add_argument("--quick", action="store_true", help="1,000 persons")
    parser.add_argument("--mode", choices=MODES, action="append", help="rate profiles (default: both)")
    parser.add_argument("--naive-sample", type=int, default=200,
                        help="records per system the naive script runs (0: none)")
    parser.add_argument("--cycles", nargs="+", choices=KINDS, default=list(KINDS),
                        help="the cycles to run, in this order (default: all four; the first is the full sync)")
    args = parser.parse_args()
    if args.worker:
        configure_logging(level="warning", fmt="console")
        print(json.dumps(run_cycle(*args.worker)))
        return 0
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())["cases"]))
        return 0
    sizes = args.persons or ([1_000] if args.quick else [10_000])
    if args.cycles[0] != "full":
        parser.error("--cycles must start with full (every later cycle needs the full sync's ledger)")
    drive(sizes, args.mode or list(MODES), args.naive_sample, quick=args.quick, kinds=tuple(args.cycles))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
