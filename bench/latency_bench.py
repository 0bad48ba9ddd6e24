"""Change-to-write-back latency with the daemon running.

    python -m bench.latency_bench [--persons 2000] [--interval 10] [--samples 5] [--lag-margin SECONDS]

Starts `leadsync sandbox serve` (HubSpot's rate limits on) and `leadsync run` against it with a short sync
interval, each in its own process. Once the first full sync has written every score, it picks people
with a Salesforce lead and a HubSpot contact, fills in a form on the HubSpot contact (as the person, through
the control endpoint) at a random moment of the cycle, and polls the Salesforce lead through the API every
0.25 s until its ``Lead_Score__c`` changes. The latency is from the form fill to the poll that saw it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from simple_salesforce.format import format_soql

from bench.sandbox_bench import API, hs_session, sf_session
from bench.sync_bench import RESULTS, ROOT, Served
from leadsync.config.settings import Settings

POLL_SECONDS = 0.25
SHIPPED_LAG_MARGIN = Settings().hubspot.lag_margin_seconds  # [hubspot] lag_margin_seconds as shipped
LOW_SCORES = "SELECT Id, Email, Lead_Score__c FROM Lead WHERE IsConverted = false AND Lead_Score__c < 40 LIMIT 200"


def start_daemon(env: Mapping[str, str], workdir: Path, interval: int, lag_margin: int) -> subprocess.Popen[str]:
    settings = {
        "LEADSYNC__LEDGER__URL": f"sqlite:///{workdir / 'latency-ledger.db'}",
        "LEADSYNC__LEDGER__AUTO_UPGRADE": "true",
        "LEADSYNC__SCHEDULE__SYNC_INTERVAL_SECONDS": str(interval),
        "LEADSYNC__DAEMON__HEALTH_PORT": "0",
        "LEADSYNC__DAEMON__MAPPINGS_DIR": str(ROOT / "mappings"),
        "LEADSYNC__DAEMON__LOG_FORMAT": "json",
        "LEADSYNC__HUBSPOT__LAG_MARGIN_SECONDS": str(lag_margin),
    }
    log = (workdir / "daemon.log").open("w")
    return subprocess.Popen([sys.executable, "-m", "leadsync", "run"], env={**os.environ, **env, **settings},
                            stdout=log, stderr=subprocess.STDOUT, text=True, cwd=workdir)


def query(session: requests.Session, instance: str, soql: str) -> list[dict[str, Any]]:
    reply = session.get(instance + API + "/query", params={"q": soql}, timeout=30)
    reply.raise_for_status()
    records: list[dict[str, Any]] = reply.json()["records"]
    return records


def wait_for_scores(session: requests.Session, instance: str, timeout: float) -> list[dict[str, Any]]:
    """Leads the first full sync scored low (room to rise), once it has written them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leads = [r for r in query(session, instance, LOW_SCORES) if r.get("Email")]
        if len(leads) >= 20:
            return leads
        time.sleep(2)
    raise RuntimeError("the daemon wrote no scores to Salesforce in time; see daemon.log")


def contact_id_for(hs: requests.Session, base: str, email: str) -> str | None:
    reply = hs.post(base + "/crm/v3/objects/contacts/search", timeout=30, json={
        "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}], "limit": 1})
    if reply.status_code == 429:
        time.sleep(float(reply.headers.get("Retry-After", 1)))
        return contact_id_for(hs, base, email)
    reply.raise_for_status()
    results = reply.json()["results"]
    return str(results[0]["id"]) if results else None


def one_sample(env: Mapping[str, str], lead: Mapping[str, Any], contact_id: str, timeout: float) -> float | None:
    session, instance = sf_session(dict(env))
    hs = hs_session(dict(env))
    before = lead.get("Lead_Score__c")
    soql = format_soql("SELECT Lead_Score__c FROM Lead WHERE Id = {}", lead["Id"])
    reply = hs.post(env["LEADSYNC_SANDBOX_HS_URL"] + "/__control/hubspot/act", timeout=30, json={
        "action": "submit_form", "args": {"contact": contact_id, "form_name": "Contact us"}})
    reply.raise_for_status()
    changed_at = time.monotonic()
    while time.monotonic() - changed_at < timeout:
        rows = query(session, instance, soql)
        if rows and rows[0].get("Lead_Score__c") != before:
            return time.monotonic() - changed_at
        time.sleep(POLL_SECONDS)
    return None


def run(persons: int, interval: int, samples: int, lag_margin: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="leadsync-latency-"))
    served = Served(persons, rate_limits=True, log=workdir / "serve.log")
    daemon = start_daemon(served.env, workdir, interval, lag_margin)
    latencies: list[float | None] = []
    try:
        session, instance = sf_session(served.env)
        leads = wait_for_scores(session, instance, timeout=900)
        hs, base = hs_session(served.env), served.env["LEADSYNC_SANDBOX_HS_URL"]
        rng = random.Random(7)
        rng.shuffle(leads)
        for lead in leads:
            if len(latencies) >= samples:
                break
            contact_id = contact_id_for(hs, base, lead["Email"])
            if contact_id is None:
                continue
            time.sleep(rng.uniform(0, interval))  # a random moment of the cycle
            latency = one_sample(served.env, lead, contact_id, timeout=interval * 6 + lag_margin + 120)
            latencies.append(latency)
            print(f"  latency: {latency if latency is None else round(latency, 1)} s", file=sys.stderr, flush=True)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
        served.stop()
    seen = sorted(x for x in latencies if x is not None)
    return {"case": f"latency {persons:,} interval {interval}s lag margin {lag_margin}s", "kind": "latency",
            "persons": persons, "interval_s": interval, "lag_margin_s": lag_margin, "latencies_s": latencies,
            "median_s": seen[len(seen) // 2] if seen else None, "max_s": seen[-1] if seen else None,
            "aim_s": interval + 10, "missed": len(latencies) - len(seen), "workdir": str(workdir)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=2_000)
    parser.add_argument("--interval", type=int, default=10, help="sync interval of the daemon, seconds")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--lag-margin", type=int, action="append",
                        help="HubSpot lag margins to run (repeatable; default: the shipped default, "
                             f"{SHIPPED_LAG_MARGIN} s)")
    parser.add_argument("--quick", action="store_true", help="300 persons, 3 samples")
    args = parser.parse_args()
    persons, samples = (300, 3) if args.quick else (args.persons, args.samples)
    started = datetime.now(UTC)
    cases = [run(persons, args.interval, samples, lag) for lag in args.lag_margin or [SHIPPED_LAG_MARGIN]]
    for case in cases:
        print(f"{case['case']}: median {case['median_s']} s, max {case['max_s']} s (aim < {case['aim_s']} s)")
    out = RESULTS / f"latency-{started:%Y%m%dT%H%M%SZ}{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps({"date": started.isoformat(), "load_average": os.getloadavg(), "cases": cases},
                              indent=1))
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
