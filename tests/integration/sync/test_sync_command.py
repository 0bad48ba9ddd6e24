"""`leadsync sync` through its entry point against an in-process sandbox: exit codes and the guard alert."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from leadsync.cli.main import main
from leadsync.sandbox.runtime import Sandbox

from .test_sync_sandbox import MAPPINGS


def config(tmp_path: Path, **daemon: object) -> Path:
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in daemon.items())
    path = tmp_path / "leadsync.toml"
    path.write_text(f'[ledger]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n'
                    f'[daemon]\nmappings_dir = "{MAPPINGS}"\nlog_level = "error"\n{extra}', encoding="utf-8")
    return path


def test_the_mass_change_guard_alerts_and_exits_non_zero(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    with Sandbox(persons=30, seed=3, rate_limits=False, directory=tmp_path / "sandbox") as sandbox:
        for key, value in sandbox.env().items():
            clean_env.setenv(key, value)
        cfg = str(config(tmp_path, max_change_share=0.2, max_change_min=3))
        assert main(["--config", cfg, "sync", "--once"]) == 0  # a first full sync is not a mass change
        leads = [r["Id"] for r in sandbox.sf.records("Lead") if not r.get("IsConverted")][:10]
        for lead in leads:  # someone bulk-marks ten leads unqualified
            sandbox.sf.update_record("Lead", lead, {"Status": "Unqualified"})
        time.sleep(1.1)  # past the second the connectors' server clock may lag behind
        capsys.readouterr()
        code = main(["--config", cfg, "sync", "--once", "--format", "json"])

    out, err = capsys.readouterr()
    assert code == 3
    assert "ALERT: mass-change guard" in err
    report = json.loads(out)
    assert report["status"] == "guard_tripped" and report["guard"]["changed_people"] > 3
    assert all(calls["writes"] == 0 for calls in report["api_calls"].values())


def test_sync_without_once_says_how_to_run_it(tmp_path: Path, clean_env: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config(tmp_path)), "sync"]) == 2
    assert "--once" in capsys.readouterr().err
    assert not (tmp_path / "ledger.db").exists()  # nothing was opened or created


def test_an_out_of_date_ledger_is_refused_with_the_ledgers_message(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = config(tmp_path)
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        db.execute("CREATE TABLE unrelated (x INTEGER)")  # a database, but no ledger schema
    code = main(["--config", str(cfg), "score", "explain", "someone@acme-corp.io"])
    assert code == 1
    assert "leadsync db upgrade" in capsys.readouterr().err


def test_a_manual_cycle_refuses_while_a_daemon_leads_the_ledger(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from leadsync.daemon.leadership import for_ledger
    from leadsync.ledger import open_ledger

    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", auto_upgrade=True)
    daemon = for_ledger(ledger)
    daemon.start()  # a live daemon: it holds the ledger's lock
    clean_env.setenv("LEADSYNC_SANDBOX_SF_URL", "https://127.0.0.1:9")  # never reached: refused before any call
    for name in ("SF_USERNAME", "SF_PASSWORD", "SF_SECURITY_TOKEN", "SF_CLIENT_ID", "SF_CLIENT_SECRET", "HS_URL",
                 "HS_TOKEN", "CA"):
        clean_env.setenv(f"LEADSYNC_SANDBOX_{name}", str(tmp_path / "unused") if name == "CA" else "x")
    try:
        assert main(["--config", str(config(tmp_path)), "sync", "--once"]) == 1
    finally:
        daemon.stop()
        ledger.close()
    err = capsys.readouterr().err
    assert "another leadsync process" in err and "stop it or use --dry-run" in err
