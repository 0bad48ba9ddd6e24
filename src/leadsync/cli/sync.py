"""``leadsync sync --once [--dry-run] [--format text|json]``: one sync cycle from the command line.

Exit codes: 0 the cycle ran (per-record failures are reported, not fatal), 3 the mass-change guard
stopped it (nothing written), 4 the preflight found mapped fields the rules cannot write (each mapping
line named; a real run writes nothing, a dry run still prints its plan with the problems in it), 1 any
other failure (one clear line, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from leadsync.cli.common import CliError, settings_from

GUARD_EXIT = 3
PREFLIGHT_EXIT = 4


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    sync = subparsers.add_parser("sync", parents=parents, help="run one sync cycle (or plan it with --dry-run)")
    sync.add_argument("--once", action="store_true", help="run one cycle and exit (the daemon is `leadsync run`)")
    sync.add_argument("--dry-run", action="store_true",
                      help="pull and plan, print the plan; write nothing to the CRMs or the ledger")
    sync.add_argument("--rescore", action="store_true", help="evaluate everyone, not only people who changed")
    sync.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    sync.set_defaults(func=sync_command)


def sync_command(args: argparse.Namespace) -> int:
    from leadsync.app import AppError, build_app
    from leadsync.connectors.errors import ConnectorError
    from leadsync.daemon.leadership import LeadershipUnavailable, lead_once
    from leadsync.ledger import LedgerError
    from leadsync.logging import configure_logging
    from leadsync.sync.dryrun import render_json, render_text
    from leadsync.sync.preflight import PreflightFailed

    if not args.once:
        raise CliError("say --once to run one cycle (the scheduled daemon is `leadsync run`)", exit_code=2)
    settings = settings_from(args)
    configure_logging(settings.daemon.log_level, settings.daemon.log_format)
    try:
        with build_app(settings) as app:
            for note in app.notes:
                print(f"leadsync: {note}", file=sys.stderr)
            if args.dry_run:  # commits nothing, so it needs no leadership and may run beside a daemon
                report = app.engine(dry_run=True).run_once(dry_run=True, rescore_all=args.rescore)
            else:
                # One writer at a time: lead like a daemon does, with a fresh fencing epoch.
                try:
                    with lead_once(app.ledger) as epoch:
                        report = app.engine(epoch=epoch).run_once(rescore_all=args.rescore)
                except LeadershipUnavailable as exc:
                    raise CliError(f"{exc}; stop it or use --dry-run") from None
            preflight = app.preflight_problems()
            report.errors[:0] = [f"preflight: {line}" for line in preflight]
    except PreflightFailed as exc:
        raise CliError(str(exc), exit_code=PREFLIGHT_EXIT) from None
    except (AppError, LedgerError) as exc:
        raise CliError(str(exc)) from exc
    except ConnectorError as exc:
        raise CliError(f"the cycle stopped: {exc}") from exc
    print(render_json(report) if args.format == "json" else render_text(report))
    if report.status == "guard_tripped":
        print(f"leadsync: ALERT: {report.errors[0]}", file=sys.stderr)
        return GUARD_EXIT
    if preflight:
        print(f"leadsync: preflight failed: {len(preflight)} mapping line(s) cannot be used as the rules need; "
              "a real run would write nothing", file=sys.stderr)
        return PREFLIGHT_EXIT
    return 0
