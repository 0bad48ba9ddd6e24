"""``leadsync run``: the daemon's lifecycle, from opening the ledger to a clean exit.

Start: secrets registered for redaction, ledger opened (an out-of-date schema refuses to start unless
``[ledger] auto_upgrade``), on SQLite the ledger's file lock taken, jobs built (the CRM preflight runs
here), health server up, and only then leadership started: a start that fails leaves the ledger's leader
epochs untouched. Then the scheduler starts and the main thread waits for SIGTERM/SIGINT, which sets the
stop flag every job checks between batches; the running job commits its current batch and ends, the
scheduler stops, the lock is released, and the process exits 0 within
``[daemon] shutdown_deadline_seconds``, or with :data:`EXIT_SHUTDOWN_OVERRAN` and a clear message.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from leadsync.config.settings import SECRET_FIELDS, Settings
from leadsync.daemon.health import HealthServer, HealthState
from leadsync.daemon.leadership import Leadership, LeadershipUnavailable, for_ledger
from leadsync.daemon.metrics import DaemonMetrics
from leadsync.daemon.runner import JobRunner
from leadsync.daemon.scheduler import ScheduledJob, build_scheduler
from leadsync.ledger import Ledger, SchemaOutOfDate, open_configured
from leadsync.ledger.engine import shown
from leadsync.logging import get_logger, register_secret

EXIT_OK = 0
EXIT_SHUTDOWN_OVERRAN = 3
log = get_logger(__name__)

# Builds the jobs (and runs the start-up checks they need) before leadership is attempted; anything to
# close at exit goes on the ExitStack.
JobsFactory = Callable[[Settings, Ledger, contextlib.ExitStack], Sequence[ScheduledJob]]


class DaemonError(Exception):
    """The daemon cannot start; the message says why and what to do."""


def register_configured_secrets(settings: Settings) -> None:
    """Every configured secret is masked in every log line from now on, wherever it turns up."""
    for section, names in SECRET_FIELDS.items():
        for name in names:
            register_secret(settings.secret(section, name))
    with contextlib.suppress(ArgumentError):
        register_secret(make_url(settings.ledger.url).password)


def open_ledger_for_daemon(settings: Settings) -> Ledger:
    try:
        return open_configured(settings.ledger)
    except SchemaOutOfDate as exc:
        raise DaemonError(f"refusing to start: {exc}") from None


class Daemon:
    def __init__(self, settings: Settings, jobs: JobsFactory) -> None:
        self.settings = settings
        self.jobs = jobs
        self.stop = threading.Event()
        self.metrics = DaemonMetrics()
        self.health_port: int | None = None

    def request_stop(self, signum: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        if not self.stop.is_set():
            log.info("shutdown requested", signal=signal.Signals(signum).name)
        self.stop.set()

    def run(self, *, install_signals: bool = True) -> int:
        register_configured_secrets(self.settings)
        if install_signals:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        ledger = open_ledger_for_daemon(self.settings)
        try:
            leadership = for_ledger(ledger)
            try:
                leadership.prepare()  # SQLite: the file lock, so a second process is refused before anything else
                return self._start(ledger, leadership)
            except LeadershipUnavailable as exc:
                raise DaemonError(str(exc)) from None
            finally:
                leadership.stop()
                log.info("leadership released")
        finally:
            ledger.close()

    def _start(self, ledger: Ledger, leadership: Leadership) -> int:
        with contextlib.ExitStack() as resources:
            # Everything that can refuse the start comes before leadership is attempted (the schema check,
            # the jobs' preflight, the health port): a daemon that cannot run must not take a fencing epoch
            # (nor PostgreSQL's leader lock), which would fence out the writes of a healthy leader beside it.
            scheduled = self.jobs(self.settings, ledger, resources)
            daemon = self.settings.daemon
            state = HealthState(ledger, leadership, self.metrics,
                                sync_interval=self.settings.schedule.sync_interval_seconds)
            server = HealthServer(state, daemon.health_host, daemon.health_port)
            self.health_port = server.port
            server.start()
            resources.callback(server.stop)
            leadership.start()
            code = self._serve(ledger, leadership, scheduled)
            if code != EXIT_OK:
                resources.pop_all()  # a job still runs on these resources; the process is about to leave
            return code

    def _serve(self, ledger: Ledger, leadership: Leadership, scheduled: Sequence[ScheduledJob]) -> int:
        runner = JobRunner(ledger, leadership, self.metrics, self.stop,
                           deadline_seconds=self.settings.schedule.run_deadline_seconds)
        scheduler = build_scheduler(self.settings.schedule, scheduled, runner, self.metrics)
        scheduler.start()
        log.info("daemon started", ledger=shown(ledger.url), role=leadership.role().value,
                 epoch=leadership.epoch(), health=f"http://{self.settings.daemon.health_host}:{self.health_port}",
                 jobs=[s.job.kind for s in scheduled])
        self.stop.wait()
        return self._shut_down(scheduler, runner)

    def _shut_down(self, scheduler: BackgroundScheduler, runner: JobRunner) -> int:
        started = time.monotonic()
        deadline = self.settings.daemon.shutdown_deadline_seconds
        scheduler.shutdown(wait=False)  # no new runs; the current one ends at its next batch boundary
        if not runner.wait_idle(deadline):
            log.error("shutdown deadline passed with a job still running; exiting without waiting for it "
                      "(committed batches are intact, the unfinished one is rolled back)",
                      deadline_seconds=deadline)
            return EXIT_SHUTDOWN_OVERRAN
        log.info("daemon stopped", seconds=round(time.monotonic() - started, 3))
        return EXIT_OK
