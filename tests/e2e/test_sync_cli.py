"""`leadsync sync --once` and `score explain` as a user runs them, against a `leadsync sandbox serve` process."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


class Served:
    """A `leadsync sandbox serve` process and the KEY=value lines it printed."""

    def __init__(self, directory: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSYNC_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "leadsync", "sandbox", "serve", "--persons", "40", "--seed", "5",
             "--dir", str(directory)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.env: dict[str, str] = {}
        while "LEADSYNC_SANDBOX_CA" not in self.env:
            line = self.lines.get(timeout=60)
            if line is None:
                raise AssertionError(f"serve exited early: {self.process.communicate(timeout=10)[1]}")
            key, _, value = line.rstrip("\n").partition("=")
            self.env[key] = value

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.communicate(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("sandbox"))
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sync")
    (directory / "leadsync.toml").write_text(
        f'[ledger]\nurl = "sqlite:///leadsync.db"\n[daemon]\nmappings_dir = "{MAPPINGS}"\nlog_level = "warning"\n',
        encoding="utf-8",
    )
    return directory


def leadsync(served: Served, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSYNC_")}
    env.update(served.env)
    return subprocess.run([sys.executable, "-m", "leadsync", "--config", str(workdir / "leadsync.toml"), *args],
                          capture_output=True, text=True, env=env, cwd=workdir, timeout=300)


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def rows(workdir: Path, table: str) -> int:
    with sqlite3.connect(workdir / "leadsync.db") as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 - fixed names


def test_dry_run_then_sync_then_idle(served: Served, workdir: Path) -> None:
    planned = leadsync(served, workdir, "sync", "--once", "--dry-run", "--format", "json")
    plan = as_json(planned)
    assert "created a fresh sandbox ledger" in planned.stderr
    assert plan["dry_run"] and plan["status"] == "planned" and plan["writes"] and plan["transitions"]
    assert all(calls["writes"] == 0 for calls in plan["api_calls"].values())
    assert plan["would_write_calls"]["salesforce"] >= 1 and plan["would_write_calls"]["hubspot"] >= 1
    assert rows(workdir, "persons") == 0 and rows(workdir, "watermarks") == 0  # nothing kept, not even cursors

    first = as_json(leadsync(served, workdir, "sync", "--once", "--format", "json"))
    assert first["status"] == "succeeded" and first["errors"] == []
    # A real cycle streams its plans: it reports counts, not the per-record listing the dry run printed.
    assert not first["listed"] and first["writes"] == {} and plan["listed"]
    # The same plan the dry run showed was carried out: every record it listed, every transition it counted.
    # (The cycle also sent what its follow-ups queued, SLA due dates and routed owners, under their own origin.)
    with sqlite3.connect(workdir / "leadsync.db") as db:
        applied = dict(db.execute("SELECT origin, count(*) FROM write_intents WHERE state = 'applied' GROUP BY origin"))
    assert applied["sync"] == len(plan["writes"]) > 0
    assert first["outcome"]["applied"] == sum(applied.values())
    # ... of which a first sync has none: the org's existing MQLs are its backlog, not hand-offs to route and
    # clock (the dry run agreed; tests/unit/sync/test_routing_engine.py shows a dry run listing them).
    assert applied.get("sla", 0) + applied.get("routing", 0) == len(plan["follow_up_writes"]) == 0
    assert first["counts"] == plan["counts"]
    assert rows(workdir, "persons") > 0
    arrived = sum(first["counts"]["transitions_per_status"].values())
    assert rows(workdir, "transitions") == len(plan["transitions"]) == arrived

    for _ in range(2):  # our writes come back (HubSpot's search index shows them a moment later)
        time.sleep(1.1)
        as_json(leadsync(served, workdir, "sync", "--once", "--format", "json"))
    time.sleep(1.1)
    idle = leadsync(served, workdir, "sync", "--once")
    assert idle.returncode == 0, idle.stderr
    assert "salesforce: 0 field writes" in idle.stdout and "hubspot: 0 field writes" in idle.stdout
    assert "0 write calls" in idle.stdout


def test_score_explain_names_the_rules_behind_a_person(served: Served, workdir: Path) -> None:
    if not (workdir / "leadsync.db").exists() or rows(workdir, "persons") == 0:
        as_json(leadsync(served, workdir, "sync", "--once", "--format", "json"))
    with sqlite3.connect(workdir / "leadsync.db") as db:
        email, person = db.execute(
            "SELECT i.value, i.person_id FROM person_identities i JOIN transitions t ON t.person_id = i.person_id "
            "WHERE i.kind = 'email' ORDER BY i.value LIMIT 1").fetchone()
    explained = leadsync(served, workdir, "score", "explain", email.upper(), "--format", "json")
    data = as_json(explained)
    assert data["person"] == person and f"email:{email}" in data["identities"]
    assert data["transitions"] and data["transitions"][0]["rule"]
    assert data["lifecycle_status"] == data["transitions"][0]["to"]
    text = leadsync(served, workdir, "score", "explain", person)
    assert text.returncode == 0 and f"person {person}" in text.stdout and "last transitions:" in text.stdout
    missing = leadsync(served, workdir, "score", "explain", "nobody@nowhere.io")
    assert missing.returncode == 1 and "no person with email nobody@nowhere.io" in missing.stderr
