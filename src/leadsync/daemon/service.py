"""``leadsync run``: the daemon's lifecycle, from opening the ledger to a clean exit.

Start: secrets registered for redaction, ledger opened (an out-of-date schema refuses to start unless
``[ledger] auto_upgrade``), leadership started, health server up, scheduler started. Then the main thread
waits for SIGTERM/SIGINT, which sets the stop flag every job checks between batches; the running job
commits its current batch and ends, the scheduler stops, the lock is released, and the process exits 0
within ``[daemon] shutdown_deadline_seconds``, or with :data:`EXIT_SHUTDOWN_OVERRAN` and a clear message.
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

# Builds the jobs once leadership has started; anything to close at exit goes on the ExitStack.
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
                leadership.start()
            except LeadershipUnavailable as exc:
                raise DaemonError(str(exc)) from None
            try:
                return self._serve(ledger, leadership)
            finally:
                leadership.stop()
                log.info("leadership released")
        finally:
            ledger.close()

    def _serve(self, ledger: Ledger, leadership: Leadership) -> int:
        daemon = self.settings.daemon
        interval = self.settings.schedule.sync_interval_seconds
        state = HealthState(ledger, leadership, self.metrics, sync_interval=interval)
        server = HealthServer(state, daemon.health_host, daemon.health_port)
        self.health_port = server.port
        server.start()
        runner = JobRunner(ledger, leadership, self.metrics, self.stop,
                           deadline_seconds=self.settings.schedule.run_deadline_seconds)
        with contextlib.ExitStack() as resources:
            resources.callback(server.stop)
            scheduled = self.jobs(self.settings, ledger, resources)
            scheduler = build_scheduler(self.settings.schedule, scheduled, runner, self.metrics)
            scheduler.start()
            log.info("daemon started", ledger=shown(ledger.url), role=leadership.role().value,
                     epoch=leadership.epoch(), health=f"http://{daemon.health_host}:{server.port}",
                     jobs=[s.job.kind for s in scheduled])
            self.stop.wait()
            code = self._shut_down(scheduler, runner)
            if code != EXIT_OK:
                resources.pop_all()  # a job still runs on these resources; the process is about to leave
            return code

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
