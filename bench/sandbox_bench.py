"""Sandbox benchmark: org generation time and memory, and requests per second the emulators serve.

    python -m bench.sandbox_bench            # 100,000 persons; 8 s per HTTP workload
    python -m bench.sandbox_bench --quick    # 10,000 persons; 2 s per workload

Generation runs in a child process (its peak RSS is the figure, minus the RSS after imports). The
emulators run as `leadsync sandbox serve --no-rate-limits` in a child process, driven over TLS on
loopback by plain `requests` sessions with keep-alive (one client, then four client threads): SOQL
query pages of 200 records (following nextRecordsUrl), HubSpot contact search pages of 200, HubSpot
batch updates of 100 and Salesforce sObject Collections updates of 200. Prints a Markdown section.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

API = "/services/data/v59.0"
SOQL = "SELECT Id, Email, FirstName, LastName, Status, OwnerId, SystemModstamp FROM Lead ORDER BY SystemModstamp, Id"

_CHILD = """
import json, resource, sys, time
from datetime import UTC, datetime
from leadsync.sandbox.orggen import generate_org
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
org = generate_org(int(sys.argv[1]), 1, activities_per_person=10, now=datetime(2026, 11, 24, 3, tzinfo=UTC))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mib": peak / 1024, "base_mib": base / 1024,
                  "activities": org.truth.counts["activities"],
                  "records": sum(map(len, org.salesforce.values())) + sum(map(len, org.hubspot.values()))}))
"""

_START_CHILD = """
import json, resource, sys, time
from leadsync.sandbox.runtime import Sandbox
start = time.perf_counter()
sandbox = Sandbox(persons=int(sys.argv[1]), seed=1, rate_limits=False).start()
seconds = time.perf_counter() - start
sandbox.stop()
print(json.dumps({"seconds": seconds, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure_generation(persons: int) -> dict[str, Any]:
    return _child(_CHILD, persons)


def measure_start(persons: int) -> dict[str, Any]:
    """A whole sandbox start: generation, loading both emulators, TLS setup, both servers listening."""
    return _child(_START_CHILD, persons)


def _child(code: str, persons: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", code, str(persons)], check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


class Served:
    """`leadsync sandbox serve` in a child process, and what it printed."""

    def __init__(self, persons: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "leadsync", "sandbox", "serve", "--persons", str(persons), "--no-rate-limits"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.env: dict[str, str] = {}
        assert self.process.stdout is not None
        while "LEADSYNC_SANDBOX_CA" not in self.env:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("sandbox serve exited before printing its settings")
            key, _, value = line.strip().partition("=")
            self.env[key] = value

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)


def sf_session(env: dict[str, str]) -> tuple[requests.Session, str]:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE must not override the sandbox CA
    session.verify = env["LEADSYNC_SANDBOX_CA"]
    reply = session.post(env["LEADSYNC_SANDBOX_SF_URL"] + "/services/oauth2/token", data={
        "grant_type": "password", "client_id": env["LEADSYNC_SANDBOX_SF_CLIENT_ID"],
        "client_secret": env["LEADSYNC_SANDBOX_SF_CLIENT_SECRET"], "username": env["LEADSYNC_SANDBOX_SF_USERNAME"],
        "password": env["LEADSYNC_SANDBOX_SF_PASSWORD"] + env["LEADSYNC_SANDBOX_SF_SECURITY_TOKEN"]}, timeout=30)
    reply.raise_for_status()
    token = reply.json()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    return session, token["instance_url"]


def hs_session(env: dict[str, str]) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = env["LEADSYNC_SANDBOX_CA"]
    session.headers["Authorization"] = f"Bearer {env['LEADSYNC_SANDBOX_HS_TOKEN']}"
    return session


def soql_pages(env: dict[str, str]) -> Callable[[], int]:
    session, instance = sf_session(env)
    session.headers["Sforce-Query-Options"] = "batchSize=200"
    state = {"next": ""}

    def step() -> int:
        if state["next"]:
            reply = session.get(instance + state["next"], timeout=30)
        else:
            reply = session.get(instance + API + "/query", params={"q": SOQL}, timeout=30)
        reply.raise_for_status()
        body = reply.json()
        state["next"] = "" if body["done"] else body["nextRecordsUrl"]
        return len(body["records"])

    return step


def hs_search_pages(env: dict[str, str]) -> Callable[[], int]:
    session = hs_session(env)
    url = env["LEADSYNC_SANDBOX_HS_URL"] + "/crm/v3/objects/contacts/search"
    state = {"after": ""}

    def step() -> int:
        body: dict[str, Any] = {"limit": 200, "properties": ["email", "lifecyclestage", "hs_lead_status"],
                                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]}
        if state["after"]:
            body["after"] = state["after"]
        reply = session.post(url, json=body, timeout=30)
        reply.raise_for_status()
        page = reply.json()
        after = page.get("paging", {}).get("next", {}).get("after", "")
        state["after"] = after if after and int(after) < 9800 else ""  # stay under the 10,000-result cap
        return len(page["results"])

    return step


def hs_batch_updates(env: dict[str, str], contact_ids: list[str]) -> Callable[[], int]:
    session = hs_session(env)
    url = env["LEADSYNC_SANDBOX_HS_URL"] + "/crm/v3/objects/contacts/batch/update"
    state = {"offset": 0, "flip": 0}

    def step() -> int:
        start = state["offset"]
        ids = contact_ids[start:start + 100] or contact_ids[:100]
        state["offset"] = start + 100 if start + 200 <= len(contact_ids) else 0
        state["flip"] ^= 1
        value = "OPEN" if state["flip"] else "IN_PROGRESS"
        reply = session.post(url, json={"inputs": [{"id": i, "properties": {"hs_lead_status": value}} for i in ids]},
                             timeout=30)
        reply.raise_for_status()
        return len(reply.json()["results"])

    return step


def sf_collection_updates(env: dict[str, str], lead_ids: list[str]) -> Callable[[], int]:
    session, instance = sf_session(env)
    url = instance + API + "/composite/sobjects"
    state = {"offset": 0, "flip": 0}

    def step() -> int:
        start = state["offset"]
        ids = lead_ids[start:start + 200] or lead_ids[:200]
        state["offset"] = start + 200 if start + 400 <= len(lead_ids) else 0
        state["flip"] ^= 1
        title = "Manager" if state["flip"] else "Director"
        records: list[dict[str, object]] = [{"attributes": {"type": "Lead"}, "id": i, "Title": title} for i in ids]
        payload: dict[str, Any] = {"allOrNone": False, "records": records}
        reply = session.patch(url, json=payload, timeout=30)
        reply.raise_for_status()
        return len(reply.json())

    return step


def run_for(make_step: Callable[[], Callable[[], int]], seconds: float, threads: int) -> tuple[float, float]:
    """Requests per second and records per second over ``seconds``, with ``threads`` client threads."""
    steps = [make_step() for _ in range(threads)]
    totals = [[0, 0] for _ in range(threads)]
    deadline = time.perf_counter() + seconds

    def loop(index: int) -> None:
        while time.perf_counter() < deadline:
            totals[index][1] += steps[index]()
            totals[index][0] += 1

    start = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    return sum(t[0] for t in totals) / elapsed, sum(t[1] for t in totals) / elapsed


def seed_ids(env: dict[str, str]) -> tuple[list[str], list[str]]:
    session, instance = sf_session(env)
    reply = session.get(instance + API + "/query", params={"q": "SELECT Id FROM Lead WHERE IsConverted = false"},
                        timeout=60)
    reply.raise_for_status()
    lead_ids = [r["Id"] for r in reply.json()["records"]]
    hs = hs_session(env)
    contact_ids: list[str] = []
    after = ""
    while len(contact_ids) < 2000:
        params = {"limit": "100", **({"after": after} if after else {})}
        page = hs.get(env["LEADSYNC_SANDBOX_HS_URL"] + "/crm/v3/objects/contacts", params=params, timeout=30).json()
        contact_ids += [c["id"] for c in page["results"]]
        after = page.get("paging", {}).get("next", {}).get("after", "")
        if not after:
            break
    return lead_ids, contact_ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller org, shorter runs")
    parser.add_argument("--skip-http", action="store_true", help="generation figures only")
    args = parser.parse_args()
    persons = 10_000 if args.quick else 100_000
    seconds = 2.0 if args.quick else 8.0
    lines = ["## Sandbox", "", f"Command: `python -m bench.sandbox_bench{' --quick' if args.quick else ''}`, "
             f"date {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, load average at start "
             f"{os.getloadavg()[0]:.1f} (the machine is shared).", ""]
    gen = measure_generation(persons)
    lines += ["Synthetic org generation (`generate_org`, one process, seed 1):", "",
              "| persons | activities | records | seconds | peak RSS | RSS after imports |",
              "|---|---|---|---|---|---|",
              f"| {persons:,} | {gen['activities']:,} | {gen['records']:,} | {gen['seconds']:.1f} | "
              f"{gen['peak_mib']:,.0f} MiB | {gen['base_mib']:,.0f} MiB |", ""]
    started = measure_start(persons)
    lines += [f"Whole `Sandbox` start with {persons:,} persons (generate, load both emulators, listen): "
              f"{started['seconds']:.1f} s, peak RSS {started['peak_mib']:,.0f} MiB.", ""]
    print("\n".join(lines), flush=True)
    if args.skip_http:
        return 0
    served = Served(5_000)
    try:
        lead_ids, contact_ids = seed_ids(served.env)
        env = served.env
        workloads: list[tuple[str, Callable[[], Callable[[], int]]]] = [
            ("SOQL query page (200 Lead records, nextRecordsUrl)", lambda: soql_pages(env)),
            ("HubSpot contact search page (200)", lambda: hs_search_pages(env)),
            ("HubSpot batch update (100 contacts)", lambda: hs_batch_updates(env, contact_ids)),
            ("Salesforce sObject Collections update (200 Leads)", lambda: sf_collection_updates(env, lead_ids)),
        ]
        table = ["Emulators over TLS on loopback (`sandbox serve --persons 5000 --no-rate-limits` in its own "
                 "process; `requests` sessions with keep-alive):", "",
                 "| workload | 1 client: req/s | records/s | 4 clients: req/s | records/s |", "|---|---|---|---|---|"]
        for name, make in workloads:
            one = run_for(make, seconds, 1)
            four = run_for(make, seconds, 4)
            table.append(f"| {name} | {one[0]:,.0f} | {one[1]:,.0f} | {four[0]:,.0f} | {four[1]:,.0f} |")
            print(table[-1], file=sys.stderr, flush=True)
        print("\n".join(table), flush=True)
    finally:
        served.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
