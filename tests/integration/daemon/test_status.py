"""``leadsync status`` as a subprocess over a ledger a daemon has written to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from leadsync.daemon.jobs import FunctionJob, JobContext, JobOutcome
from leadsync.daemon.metrics import DaemonMetrics
from leadsync.daemon.runner import JobRunner
from leadsync.domain.model import System
from leadsync.ledger import Ledger
from tests.integration.daemon.helpers import FixedLeadership, batch_job


def leadsync(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSYNC_")}
    return subprocess.run([sys.executable, "-m", "leadsync", "status", "--config", str(config), *args],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def test_status_shows_leader_runs_watermarks_budget_quarantine_and_breaches(ledger: Ledger, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    leadership = FixedLeadership(ledger, holder="host-a:4242")
    leadership.start()
    runner = JobRunner(ledger, leadership, DaemonMetrics(), threading.Event(), deadline_seconds=30)
    runner.run(batch_job("sync", 2))

    def spent(ctx: JobContext) -> JobOutcome:
        return JobOutcome(api_calls={"hubspot": 12}, budget_remaining={"hubspot": 321_000})

    runner.run(FunctionJob("sync", spent))
    repaired = {"repaired_missing.salesforce": 2, "repaired_missing.hubspot": 0, "repaired_orphaned.hubspot": 1}
    runner.run(FunctionJob("reconcile", lambda ctx: JobOutcome(counts=dict(repaired))))
    with ledger.unit_of_work() as uow:
        uow.quarantine.put(System.HUBSPOT, "contacts", "901", "INVALID_OPTION: 'Warm' is not an option", "f1", now)
        uow.people.ensure(["p1"], now)
        clock = uow.sla.start("p1", "mql_follow_up", now - timedelta(hours=5), now - timedelta(hours=1))
        uow.sla.mark_breached(clock.id, clock.due_at)
    config = tmp_path / "status.toml"
    config.write_text(f'[ledger]\nurl = "{ledger.url.render_as_string(hide_password=False)}"\n', encoding="utf-8")

    done = leadsync(config, "--format", "json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["leader"]["holder"] == "host-a:4242" and status["leader"]["epoch"] == 1
    assert [r["status"] for r in status["runs"]] == ["succeeded"] * 3
    assert status["runs"][0]["kind"] == "reconcile" and status["runs"][0]["counts"] == repaired
    assert status["watermarks"] == [{"stream": "sync", "value": "2", "ids_at_value": 0}]
    assert status["api_budget"]["hubspot"]["remaining"] == 321_000
    assert status["api_budget"]["hubspot"]["last_run_calls"] == 12
    assert status["quarantine"]["count"] == 1 and status["quarantine"]["records"][0]["record_id"] == "901"
    assert status["sla_breaches"]["count"] == 1 and status["sla_breaches"]["clocks"][0]["person_id"] == "p1"
    assert status["last_good_cycle"] is not None

    text = leadsync(config).stdout
    assert "leader: host-a:4242 (epoch 1" in text
    assert "hubspot      last run used 12; 321000 left" in text
    assert "hubspot contacts 901: INVALID_OPTION" in text and "open SLA breaches: 1" in text
    [reconciled] = [line for line in text.splitlines() if " reconcile " in line]
    assert reconciled.endswith("no API calls; repaired: missing salesforce 2, orphaned hubspot 1")


def test_status_on_a_database_without_a_schema_says_what_to_do(tmp_path: Path) -> None:
    config = tmp_path / "status.toml"
    config.write_text(f'[ledger]\nurl = "sqlite:///{tmp_path}/none.db"\n', encoding="utf-8")
    done = leadsync(config)
    assert done.returncode == 1
    assert done.stderr.strip() == "leadsync: ledger has no schema yet; run `leadsync db upgrade`"
