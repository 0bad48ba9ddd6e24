"""``leadsync run``: the daemon (scheduled sync, SLA sweep, daily rescore, nightly reconciliation)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from leadsync.cli.common import CliError, settings_from
from leadsync.config.settings import Settings
from leadsync.daemon.service import EXIT_SHUTDOWN_OVERRAN, Daemon, DaemonError, JobsFactory
from leadsync.daemon.wiring import default_jobs
from leadsync.ledger import LedgerError
from leadsync.logging import configure_logging


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
             parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run", parents=parents, help="run as a service: scheduled sync, SLA sweep, rescore, reconciliation",
        description="Run the daemon until SIGTERM or SIGINT. Health, readiness and Prometheus metrics are "
                    "served on [daemon] health_host:health_port (/healthz, /readyz, /metrics).",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_daemon(settings_from(args), default_jobs)


def run_daemon(settings: Settings, jobs: JobsFactory) -> int:
    """Configure logging, run the daemon until signalled, and turn start-up failures into one clear line."""
    configure_logging(settings.daemon.log_level, settings.daemon.log_format)
    daemon = Daemon(settings, jobs)
    try:
        code = daemon.run()
    except (DaemonError, LedgerError, OSError) as exc:
        raise CliError(str(exc)) from None
    if code == EXIT_SHUTDOWN_OVERRAN:
        # The job thread is stuck past the deadline; the interpreter would wait for it at exit. Leave now:
        # units of work are atomic, so the database rolls the unfinished batch back.
        print(f"leadsync: shutdown deadline of {settings.daemon.shutdown_deadline_seconds:g}s passed with a job "
              "still running; exited without waiting for it", file=sys.stderr)
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    return code
