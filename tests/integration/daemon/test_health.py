"""The health endpoint over real HTTP against a real ledger."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadsync.daemon.health import HealthServer, HealthState
from leadsync.daemon.jobs import JobOutcome
from leadsync.daemon.metrics import DaemonMetrics
from leadsync.daemon.runner import JobRunner
from leadsync.ledger import Ledger, open_ledger, upgrade
from tests.integration.daemon.helpers import FixedLeadership, batch_job


def get(port: int, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


class Served:
    def __init__(self, ledger: Ledger, interval: float) -> None:
        self.leadership = FixedLeadership(ledger)
        self.leadership.start()
        self.metrics = DaemonMetrics()
        self.state = HealthState(ledger, self.leadership, self.metrics, sync_interval=interval)
        self.server = HealthServer(self.state, "127.0.0.1", 0)
        self.server.start()
        self.runner = JobRunner(ledger, self.leadership, self.metrics, threading.Event(), deadline_seconds=30)

    def readyz(self) -> tuple[int, dict[str, object]]:
        self.state._cached = None  # a fresh ledger read for each assertion, not the 5-second cache
        code, kind, body = get(self.server.port, "/readyz")
        assert kind == "application/json"
        return code, json.loads(body)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path}/ledger.db"
    upgrade(url)
    with open_ledger(url) as ledger:
        s = Served(ledger, interval=0.5)
        yield s
        s.server.stop()


def test_healthz_answers_while_the_process_lives(served: Served) -> None:
    assert get(served.server.port, "/healthz")[::2] == (200, "ok\n")
    assert get(served.server.port, "/nope")[0] == 404


def test_readyz_follows_the_last_good_cycle(served: Served) -> None:
    code, body = served.readyz()
    assert code == 200 and body["role"] == "leader" and "starting" in str(body["reason"])
    time.sleep(0.6)  # past the first interval, still no cycle
    code, body = served.readyz()
    assert code == 503 and body["reason"] == "no successful cycle yet"
    served.runner.run(batch_job("sync", 1))
    code, body = served.readyz()
    assert code == 200 and "last good cycle" in str(body["reason"])
    age = body["last_good_cycle_age_seconds"]
    assert isinstance(age, float) and 0 <= age < 1.5
    time.sleep(1.6)  # more than 3 intervals without a good cycle
    code, body = served.readyz()
    assert code == 503 and "limit 2s" in str(body["reason"])


def test_readyz_fails_with_the_reason_when_the_ledger_is_gone(served: Served, tmp_path: Path) -> None:
    served.runner.run(batch_job("sync", 1))
    (tmp_path / "ledger.db").unlink()
    for sidecar in ("ledger.db-wal", "ledger.db-shm"):
        (tmp_path / sidecar).unlink(missing_ok=True)
    served.state.ledger.close()
    code, body = served.readyz()
    assert code == 503 and str(body["reason"]).startswith("ledger unreachable")


def test_metrics_carry_the_leadsync_figures(served: Served) -> None:
    served.runner.run(batch_job("sync", 2))
    served.metrics.observe_run("sync", "succeeded", JobOutcome(written={"hubspot": 7},
                                                               budget_remaining={"hubspot": 4321}))
    code, kind, text = get(served.server.port, "/metrics")
    assert code == 200 and kind.startswith("text/plain")
    expected = {
        'leadsync_records_pulled_total{system="salesforce"}': 20.0,
        'leadsync_records_written_total{system="hubspot"}': 7.0,
        'leadsync_api_budget_remaining{system="hubspot"}': 4321.0,
        'leadsync_job_runs_total{job="sync",outcome="succeeded"}': 2.0,
        "leadsync_leader": 1.0, "leadsync_ledger_up": 1.0, "leadsync_quarantined_records": 0.0,
        "leadsync_sla_breaches_open": 0.0,
    }
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    for name, value in expected.items():
        assert float(values[name]) == value, name
    assert 0 <= float(values["leadsync_last_good_cycle_age_seconds"]) < 5
    assert "# TYPE leadsync_job_runs_missed_total counter" in text
