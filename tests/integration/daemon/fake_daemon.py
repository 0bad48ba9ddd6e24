"""A real daemon process with fast fake jobs, for the end-to-end tests.

Run from the repository root: ``python -m tests.integration.daemon.fake_daemon --config PATH ...``.

Everything but the jobs is what ``leadsync run`` runs: settings, logging, ledger, leadership, health
server, scheduler, signals, shutdown. The ``sync`` job writes one fenced watermark per batch; with
``--leak`` a job fails with the configured secrets in its error message, as a careless vendor library might;
with ``--fail-preflight`` the start is refused as the real jobs factory refuses it when the preflight fails.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Sequence

from leadsync.cli.common import CliError
from leadsync.cli.run import run_daemon
from leadsync.config.settings import Settings, load_settings
from leadsync.daemon.jobs import FunctionJob, JobContext, JobOutcome
from leadsync.daemon.scheduler import ScheduledJob, every
from leadsync.daemon.service import DaemonError
from leadsync.ledger import Ledger
from tests.integration.daemon.helpers import batch_job


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.05)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--leak", action="store_true")
    parser.add_argument("--hang", type=float, default=0.0, help="a sync job that ignores checkpoints this long")
    parser.add_argument("--fail-preflight", action="store_true", help="refuse to start as a failed preflight does")
    return parser.parse_args(argv)


def leaky(settings: Settings) -> FunctionJob:
    def run(ctx: JobContext) -> JobOutcome:
        token = settings.secret("hubspot", "access_token")
        password = settings.secret("salesforce", "password")
        raise RuntimeError(f"login refused for token {token} with password {password} at {settings.ledger.url}")

    return FunctionJob("leaky", run)


def hanging(seconds: float) -> FunctionJob:
    def run(ctx: JobContext) -> JobOutcome:
        time.sleep(seconds)  # a hung call: no batch boundary to stop at
        return JobOutcome()

    return FunctionJob("sync", run)


def main(argv: Sequence[str]) -> int:
    args = parse(argv)

    def jobs(settings: Settings, ledger: Ledger, _resources: contextlib.ExitStack) -> list[ScheduledJob]:
        if args.fail_preflight:  # what the real jobs factory raises when the org fails the preflight
            raise DaemonError("preflight failed: salesforce Lead.Lead_Score__c: no such field (fields.toml:15)")
        sync = hanging(args.hang) if args.hang else batch_job("sync", args.batches, pause=args.pause)
        scheduled = [ScheduledJob(sync, every(args.interval), run_at_start=True)]
        if args.leak:
            scheduled.append(ScheduledJob(leaky(settings), every(args.interval), run_at_start=True))
        return scheduled

    try:  # start-up failures are reported as `leadsync run` reports them
        return run_daemon(load_settings(args.config), jobs)
    except CliError as exc:
        print(f"leadsync: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
