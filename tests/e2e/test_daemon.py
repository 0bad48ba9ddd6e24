"""The daemon as an operator runs it: real processes, real HTTP, a real SQLite file and PostgreSQL.

The processes run everything ``leadsync run`` runs (settings, logging, ledger, leadership, health server,
scheduler, signals, shutdown) with fast fake jobs (``tests/integration/daemon/fake_daemon.py``), so a
cycle takes a second and every shutdown point can be hit on purpose.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from leadsync.ledger import RunStatus, SyncRun, open_ledger, upgrade
from tests.integration.ledger.conftest import pg_admin_url, pg_url

__all__ = ["pg_admin_url", "pg_url"]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], seconds: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {seconds}s")


class Secrets:
    def __init__(self, tmp: Path) -> None:
        self.token = f"pat-na1-{uuid.uuid4()}"
        self.password = f"Tr0ub4dor{uuid.uuid4().hex[:10]}"  # looks like any word: only registration masks it
        self.password_file = tmp / "sf-password"
        self.password_file.write_text(self.password + "\n", encoding="utf-8")

    def all(self) -> list[str]:
        return [self.token, self.password]


class Daemon:
    def __init__(self, tmp: Path, url: str, secrets: Secrets, *args: str, name: str = "d", deadline: float = 10,
                 env: dict[str, str] | None = None, interval: int = 1, real: bool = False,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        config = tmp / f"{name}.toml"
        config.write_text(
            f'[ledger]\nurl = "{url}"\n'
            f'[salesforce]\nusername = "integration@example.com"\npassword_file = "{secrets.password_file}"\n'
            f'[schedule]\nsync_interval_seconds = {interval}\n'
            f'[daemon]\nhealth_port = {self.port}\nlog_format = "json"\nshutdown_deadline_seconds = {deadline}\n'
            f'mappings_dir = "{ROOT / "mappings"}"\n[sandbox]\npersons = 40\n',
            encoding="utf-8",
        )
        # The fake-job daemon, or the real `leadsync run` (with the embedded sandbox as both CRMs).
        program = ["leadsync", "run"] if real else ["tests.integration.daemon.fake_daemon"]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("LEADSYNC_")}
        clean.update({"LEADSYNC__HUBSPOT__ACCESS_TOKEN": secrets.token, **(env or {})})
        self.process = subprocess.Popen(
            [sys.executable, "-m", *program, "--config", str(config), *args],
            cwd=ROOT, env=clean, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []
        self._pumps = [threading.Thread(target=self._pump, args=[s], daemon=True)
                       for s in (self.process.stdout, self.process.stderr)]
        for pump in self._pumps:
            pump.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def readyz(self) -> dict[str, Any]:
        code, body = self.get("/readyz")
        return {"code": code, **json.loads(body)} if code else {"code": 0}

    def metric(self, name: str) -> float | None:
        _, text = self.get("/metrics")
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def wait_exit(self, seconds: float) -> int:
        code = self.process.wait(timeout=seconds)
        for pump in self._pumps:
            pump.join(5)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()


def runs(url: str) -> list[SyncRun]:
    with open_ledger(url) as ledger, ledger.reading() as uow:
        return uow.runs.latest(500)


def running_sync(url: str) -> bool:
    return any(r.kind == "sync" and r.status is RunStatus.RUNNING for r in runs(url))


def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/ledger.db"
    upgrade(url)
    return url


def test_the_daemon_serves_health_runs_cycles_and_stops_cleanly_on_sigterm(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    url, secrets = sqlite_url(tmp_path), Secrets(tmp_path)
    daemon = Daemon(tmp_path, url, secrets, "--batches", "30", "--pause", "0.05", "--leak")
    daemons.append(daemon)
    assert wait_for(lambda: daemon.get("/healthz")[0] == 200, what="/healthz")
    ready = wait_for(lambda: (r := daemon.readyz()).get("code") == 200 and "last good" in r["reason"] and r,
                     what="/readyz after a cycle")
    assert ready["role"] == "leader"
    assert wait_for(lambda: daemon.metric('leadsync_job_runs_total{job="sync",outcome="succeeded"}'))
    assert daemon.metric("leadsync_leader") == 1
    assert daemon.metric('leadsync_records_pulled_total{system="salesforce"}') >= 300
    assert wait_for(lambda: daemon.metric('leadsync_job_runs_total{job="leaky",outcome="failed"}'))

    wait_for(lambda: running_sync(url), what="a sync run in progress")
    signalled = time.monotonic()
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.wait_exit(15) == 0
    assert time.monotonic() - signalled < 10  # the configured shutdown deadline

    recorded = runs(url)
    assert not [r for r in recorded if r.status is RunStatus.RUNNING]
    interrupted = recorded[0] if recorded[0].kind == "sync" else next(r for r in recorded if r.kind == "sync")
    assert interrupted.status is RunStatus.ABORTED
    assert interrupted.errors == ("stopped at a batch boundary: shutdown requested",)
    with open_ledger(url) as ledger, ledger.reading() as uow:
        mark = uow.watermarks.get("sync")
    assert mark is not None and int(mark.value) == interrupted.counts["batches"] < 30  # whole batches only
    assert not (tmp_path / "ledger.db.lock.holder").exists()  # the lock is released

    logged = [json.loads(line) for line in daemon.lines]  # every line is JSON
    assert {"daemon started", "job started", "job finished", "shutdown requested", "daemon stopped"} <= {
        e["event"] for e in logged}
    assert all(e.get("run_id") for e in logged if e["event"] in ("job started", "job finished"))
    leaks = [line for line in daemon.lines if any(secret in line for secret in secrets.all())]
    assert leaks == []
    failures = [e for e in logged if e["event"] == "job failed"]
    assert failures and "login refused for token *** with password ***" in failures[0]["exception"]
    leaky = [r for r in recorded if r.kind == "leaky"]
    assert leaky and all(not any(s in e for s in secrets.all() for e in r.errors) for r in leaky)


def test_leadsync_run_syncs_the_sandbox_and_stops_cleanly(tmp_path: Path, daemons: list[Daemon]) -> None:
    url, secrets = sqlite_url(tmp_path), Secrets(tmp_path)
    daemon = Daemon(tmp_path, url, secrets, real=True, interval=2)
    daemons.append(daemon)
    wait_for(lambda: daemon.get("/healthz")[0] == 200, seconds=60, what="/healthz")
    wait_for(lambda: (r := daemon.readyz()).get("code") == 200 and "last good" in r["reason"], seconds=60,
             what="a good cycle")
    written = wait_for(lambda: daemon.metric('leadsync_records_written_total{system="salesforce"}'), seconds=30,
                       what="records written to Salesforce")
    assert written > 0 and daemon.metric('leadsync_records_pulled_total{system="hubspot"}') > 0
    assert daemon.metric('leadsync_api_budget_remaining{system="salesforce"}') > 0
    wait_for(lambda: len([r for r in runs(url) if r.kind == "sync" and r.status is RunStatus.SUCCEEDED]) >= 2,
             seconds=60, what="a second cycle")
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.wait_exit(20) == 0
    recorded = runs(url)
    assert not [r for r in recorded if r.status is RunStatus.RUNNING]
    assert {r.epoch for r in recorded} == {1}
    first = min((r for r in recorded if r.kind == "sync"), key=lambda r: r.started_at)
    assert first.status is RunStatus.SUCCEEDED and first.counts["records"] > 0 and first.api_calls["salesforce"] > 0
    with open_ledger(url) as ledger, ledger.reading() as uow:
        streams = {w.stream for w in uow.watermarks.all()}
    assert {"salesforce:Lead", "hubspot:contacts"} <= streams
    assert [line for line in daemon.lines if any(s in line for s in secrets.all())] == []


def test_a_second_daemon_on_one_sqlite_file_is_refused_with_a_clear_message(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    url, secrets = sqlite_url(tmp_path), Secrets(tmp_path)
    first = Daemon(tmp_path, url, secrets, name="first")
    daemons.append(first)
    wait_for(lambda: first.get("/healthz")[0] == 200, what="first daemon up")
    second = Daemon(tmp_path, url, secrets, name="second")
    daemons.append(second)
    assert second.wait_exit(30) == 1
    message = "\n".join(second.lines)
    assert f"{tmp_path}/ledger.db.lock" in message and f"pid {first.process.pid}" in message
    assert first.process.poll() is None and first.get("/healthz")[0] == 200  # the first one is unharmed


def test_an_out_of_date_schema_is_refused_unless_auto_upgrade_is_set(tmp_path: Path, daemons: list[Daemon]) -> None:
    url, secrets = f"sqlite:///{tmp_path}/fresh.db", Secrets(tmp_path)
    refused = Daemon(tmp_path, url, secrets, name="refused")
    daemons.append(refused)
    assert refused.wait_exit(30) == 1
    assert "refusing to start: ledger has no schema yet; run `leadsync db upgrade`" in "\n".join(refused.lines)
    upgraded = Daemon(tmp_path, url, secrets, name="upgraded", env={"LEADSYNC__LEDGER__AUTO_UPGRADE": "true"})
    daemons.append(upgraded)
    wait_for(lambda: upgraded.readyz().get("code") == 200, what="auto-upgraded daemon ready")
    upgraded.process.send_signal(signal.SIGINT)
    assert upgraded.wait_exit(15) == 0


def test_a_job_that_overruns_the_shutdown_deadline_exits_non_zero_with_a_clear_message(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    url, secrets = sqlite_url(tmp_path), Secrets(tmp_path)
    daemon = Daemon(tmp_path, url, secrets, "--hang", "60", deadline=1)
    daemons.append(daemon)
    wait_for(lambda: running_sync(url), what="the hanging run")
    signalled = time.monotonic()
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.wait_exit(20) == 3
    assert time.monotonic() - signalled < 10
    assert "shutdown deadline of 1s passed with a job still running" in "\n".join(daemon.lines)


@pytest.mark.postgres
def test_two_daemons_on_postgresql_one_leads_and_the_other_takes_over_after_sigkill(
    tmp_path: Path, daemons: list[Daemon], pg_url: str
) -> None:
    upgrade(pg_url)
    secrets = Secrets(tmp_path)
    with_password = pg_url.replace("postgres@", f"postgres:{secrets.password}@", 1)
    args = ("--batches", "10", "--pause", "0.1")
    a = Daemon(tmp_path, with_password, secrets, *args, name="a")
    daemons.append(a)
    wait_for(lambda: a.readyz().get("role") == "leader", what="a leads")
    b = Daemon(tmp_path, with_password, secrets, *args, name="b")
    daemons.append(b)
    wait_for(lambda: b.readyz().get("role") == "standby", what="b stands by")
    time.sleep(3)  # several of b's retries: it must not get in while a lives
    assert (a.readyz()["role"], b.readyz()["role"]) == ("leader", "standby")
    assert b.metric("leadsync_leader") == 0 and a.metric("leadsync_leader") == 1
    assert b.readyz()["code"] == 200  # a standby is ready while the leader's cycles are recent

    wait_for(lambda: running_sync(pg_url), what="a sync run of a's in progress")
    a.process.kill()
    killed = time.monotonic()
    wait_for(lambda: b.readyz().get("role") == "leader", seconds=15, what="b takes over")
    assert time.monotonic() - killed < 10
    wait_for(lambda: any(r.status is RunStatus.SUCCEEDED and r.epoch == 2 for r in runs(pg_url)),
             what="a cycle by the new leader")

    recorded = sorted(runs(pg_url), key=lambda r: r.started_at)
    assert {r.epoch for r in recorded} == {1, 2}
    epochs_in_order = [r.epoch for r in recorded]
    assert epochs_in_order == sorted(epochs_in_order)  # no run of the old leader after the new one began
    cut_off = [r for r in recorded if r.epoch == 1 and r.status is RunStatus.ABORTED]
    assert len(cut_off) == 1 and "leader changed" in cut_off[0].errors[0]  # closed by the new leader
    with open_ledger(pg_url) as ledger:
        assert ledger.current_epoch() == 2
        with ledger.reading() as uow:
            mark = uow.watermarks.get("sync")
    assert mark is not None
    b.process.send_signal(signal.SIGTERM)
    assert b.wait_exit(15) == 0
    leaks = [line for line in a.lines + b.lines if any(secret in line for secret in secrets.all())]
    assert leaks == []



def leader_rows(url: str) -> list[tuple[Any, ...]]:
    with open_ledger(url) as ledger, ledger.reading() as uow:
        return [tuple(r) for r in uow.connection.exec_driver_sql(
            "SELECT name, epoch, holder, taken_at FROM leader_epochs ORDER BY name")]


@pytest.mark.postgres
def test_a_daemon_that_fails_to_start_takes_no_epoch_and_leaves_the_leader_alone(
    tmp_path: Path, daemons: list[Daemon], pg_url: str
) -> None:
    upgrade(pg_url)
    secrets = Secrets(tmp_path)
    # Nobody leads yet: a daemon whose preflight fails would have been the first to take the lock.
    refused = Daemon(tmp_path, pg_url, secrets, "--fail-preflight", name="refused")
    daemons.append(refused)
    assert refused.wait_exit(30) == 1
    assert "preflight failed: salesforce Lead.Lead_Score__c" in "\n".join(refused.lines)
    assert leader_rows(pg_url) == [] and runs(pg_url) == []
    with socket.socket() as taken:  # so is one whose health port is in use
        taken.bind(("127.0.0.1", 0))
        busy = Daemon(tmp_path, pg_url, secrets, name="busy", port=int(taken.getsockname()[1]))
        daemons.append(busy)
        assert busy.wait_exit(30) == 1
    assert "([daemon] health_port)" in "\n".join(busy.lines)
    assert leader_rows(pg_url) == []

    healthy = Daemon(tmp_path, pg_url, secrets, "--batches", "2", name="healthy")
    daemons.append(healthy)
    wait_for(lambda: healthy.readyz().get("role") == "leader", what="the healthy daemon leads")
    [(_, epoch, holder, _)] = before = leader_rows(pg_url)
    assert epoch == 1 and holder.endswith(f":{healthy.process.pid}")
    late = Daemon(tmp_path, pg_url, secrets, "--fail-preflight", name="late")
    daemons.append(late)
    assert late.wait_exit(30) == 1
    assert leader_rows(pg_url) == before  # the leader's epoch stands: its writes are not fenced out
    seen = len(runs(pg_url))
    wait_for(lambda: len([r for r in runs(pg_url) if r.status is RunStatus.SUCCEEDED]) > seen,
             what="the leader's next cycle")
    assert healthy.readyz()["role"] == "leader" and {r.epoch for r in runs(pg_url)} == {1}
    healthy.process.send_signal(signal.SIGTERM)
    assert healthy.wait_exit(15) == 0




# ----- the Dockerfile, performed in a clean virtual environment (no Docker engine here) ----------------

def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = path.read_text(encoding="utf-8").replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def docker_copy(origin: Path, target: Path, *, into_directory: bool) -> None:
    """COPY as Docker does it: a directory's contents into the target; a file into a ``dir/`` or as the target."""
    if origin.is_dir():
        shutil.copytree(origin, target, dirs_exist_ok=True)
        return
    dest = target / origin.name if into_directory else target
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(origin, dest)


@dataclass
class Performed:
    runs: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    user: str | None = None


def perform(steps: list[tuple[str, str]], image: Path, venv: Path) -> Performed:
    """Do what the Dockerfile does, with ``image`` as the container's / and ``venv`` as its Python."""
    done, workdir = Performed(), Path("/")
    for keyword, args in steps:
        if keyword == "FROM":
            assert args.startswith("python:3.11-slim")
        elif keyword == "WORKDIR":
            workdir = Path(args)
        elif keyword == "COPY":
            *sources, destination = args.split()
            target = image / (workdir / destination).relative_to("/")  # an absolute destination replaces workdir
            for source in sources:
                docker_copy(ROOT / source, target, into_directory=destination.endswith("/") or len(sources) > 1)
        elif keyword == "RUN":
            done.runs.append(args)
            if args.startswith("pip install"):
                pip = subprocess.run([str(venv / "bin" / "pip"), *args.split()[1:]], capture_output=True,
                                     text=True, check=False, cwd=image / workdir.relative_to("/"))
                assert pip.returncode == 0, pip.stderr[-2000:]
        elif keyword == "HEALTHCHECK":
            done.healthcheck = json.loads(args[args.index("CMD") + len("CMD"):])
        elif keyword == "CMD":
            done.cmd = json.loads(args)
        elif keyword == "USER":
            done.user = args
    return done


@pytest.mark.slow
def test_the_dockerfile_steps_install_a_working_leadsync_with_a_working_healthcheck(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    image, venv = tmp_path / "image", tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = perform(dockerfile_instructions(ROOT / "Dockerfile"), image, venv)
    # Every RUN step is performed above, except the user creation a venv has no use for.
    assert [r for r in done.runs if not r.startswith(("pip install", "useradd"))] == []
    assert done.user not in (None, "root", "0")
    assert done.cmd == ["leadsync", "run", "--config", "/etc/leadsync/config.toml"]
    assert (image / "etc/leadsync/mappings/lifecycle.toml").exists()
    leadsync = str(venv / "bin" / done.cmd[0])
    helped = subprocess.run([leadsync, "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0 and "run" in helped.stdout and "status" in helped.stdout
    assert subprocess.run([leadsync, done.cmd[1], "--help"], capture_output=True, check=False).returncode == 0

    daemon = Daemon(tmp_path, sqlite_url(tmp_path), Secrets(tmp_path))
    daemons.append(daemon)
    wait_for(lambda: daemon.get("/healthz")[0] == 200, what="daemon up")
    config = image / "etc/leadsync/config.toml"
    config.write_text(f"[daemon]\nhealth_port = {daemon.port}\n", encoding="utf-8")
    assert done.healthcheck[0] == "python"
    in_image = [str(config) if a == "/etc/leadsync/config.toml" else a for a in done.healthcheck[1:]]
    probe = [str(venv / "bin" / "python"), *in_image]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEADSYNC_")}
    assert subprocess.run(probe, env=clean, capture_output=True, check=False, cwd=tmp_path).returncode == 0
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.wait_exit(15) == 0
    failed = subprocess.run(probe, env=clean, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert failed.returncode == 1 and "unhealthy" in failed.stderr


# ----- leadsync demo ---------------------------------------------------------------------------------

def test_leadsync_demo_tells_the_whole_story_and_ends_quiet(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEADSYNC_")}
    folder = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "leadsync", "demo", "--persons", "100", "--dir", str(folder),
                           "--json"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    cycles = result["cycles"]
    assert cycles[0]["records_pulled"] > 0 and len(cycles[0]["transitions"]) >= 100  # everyone gets a status
    moves = [t for c in cycles[1:] for t in c["transitions"]]
    for arrow in ("-> MQL", "-> SAL", "-> Opportunity"):
        assert any(arrow in t for t in moves), arrow
    assert any(c["contact_status_changes"] for c in cycles[1:])
    assert any(c["sla"]["breached_this_step"] >= 1 for c in cycles)
    assert all(set(c["api_calls"]) == {"salesforce", "hubspot"} for c in cycles)
    assert sum(c["writes"].get("salesforce", 0) for c in cycles[1:]) > 0
    last = cycles[-1]
    assert last["transitions"] == [] and last["contact_status_changes"] == [] and not any(last["writes"].values())
    assert last["status"] == "succeeded"
    for path in result["reports"].values():
        assert Path(path).read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")

    status = subprocess.run([sys.executable, "-m", "leadsync", "status", "--config", str(folder / "demo.toml"),
                             "--format", "json"], env=clean, capture_output=True, text=True, timeout=60, check=False)
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["sla_breaches"]["count"] >= 1 and shown["runs"][0]["status"] == "succeeded"


@pytest.mark.postgres
def test_a_paused_leader_that_wakes_after_a_failover_writes_nothing(
    tmp_path: Path, daemons: list[Daemon], pg_url: str
) -> None:
    upgrade(pg_url)
    secrets = Secrets(tmp_path)
    args = ("--batches", "10", "--pause", "0.2")
    a = Daemon(tmp_path, pg_url, secrets, *args, name="a")
    daemons.append(a)
    wait_for(lambda: a.readyz().get("role") == "leader", what="a leads")
    b = Daemon(tmp_path, pg_url, secrets, *args, name="b")
    daemons.append(b)
    wait_for(lambda: b.readyz().get("role") == "standby", what="b stands by")
    wait_for(lambda: running_sync(pg_url), what="a's run in progress")
    a.process.send_signal(signal.SIGSTOP)  # a long GC pause, a frozen VM...
    try:
        engine = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
        with engine.connect() as admin:  # ...during which a's lock connection is cut
            holder = admin.execute(sa.text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"))
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": holder.scalar_one()})
        engine.dispose()
        wait_for(lambda: b.readyz().get("role") == "leader", seconds=15, what="b takes over")
        wait_for(lambda: any(r.epoch == 2 and r.status is RunStatus.SUCCEEDED for r in runs(pg_url)),
                 what="a cycle by b")
    finally:
        a.process.send_signal(signal.SIGCONT)
    wait_for(lambda: a.readyz().get("role") == "standby", seconds=15, what="a steps down")
    wait_for(lambda: any("leadership lost" in line or "lock connection lost" in line for line in a.lines),
             what="a says why it stopped writing")
    time.sleep(1)  # a's job had batches left: give it time to try them
    recorded = sorted(runs(pg_url), key=lambda r: r.started_at)
    assert [r.epoch for r in recorded] == sorted(r.epoch for r in recorded)
    a_runs = {r.id for r in recorded if r.epoch == 1}
    with open_ledger(pg_url) as ledger, ledger.reading() as uow:
        mark = uow.watermarks.get("sync")
        by_run = uow.connection.exec_driver_sql("SELECT run_id FROM watermarks WHERE stream = 'sync'").scalar_one()
    assert mark is not None and by_run not in a_runs  # the last write is b's, a's late batches were refused
    paused = [r for r in recorded if r.epoch == 1 and r.status is not RunStatus.SUCCEEDED]
    assert len(paused) == 1 and paused[0].status is RunStatus.ABORTED  # closed by b; a could not overwrite it
    assert "leader changed" in paused[0].errors[0]
