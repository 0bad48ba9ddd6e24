"""``leadsync mappings plan [DIR]``: evaluate an edited rule folder against the people in the ledger
(read-only) and report who would change status and how many would cross the MQL line, against the live
rule folder (``[daemon] mappings_dir``, or ``--current DIR``).

Registered under ``leadsync mappings`` by ``leadsync.cli.mappings`` calling :func:`register` with its
action subparsers.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadsync.cli.common import CliError, settings_from
from leadsync.ledger import LedgerError, open_configured
from leadsync.reports import FORMATS, render
from leadsync.reports import plan as rule_plan
from leadsync.rules.ruleset import load_ruleset


def register(actions: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``plan`` to the ``mappings`` action subparsers."""
    parser = actions.add_parser("plan", parents=parents,
                                help="what an edited rule folder would change for the people in the ledger")
    parser.add_argument("directory", type=Path, help="the edited rule folder")
    parser.add_argument("--current", type=Path, metavar="DIR", help="live rules (default: [daemon] mappings_dir)")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--out", type=Path, metavar="PATH", help="write to a file instead of standard output")
    parser.add_argument("--as-of", dest="as_of", metavar="WHEN", help="evaluate as of this ISO instant (default now)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    current = load_ruleset(args.current or settings.daemon.mappings_dir)
    edited = load_ruleset(args.directory)
    now = datetime.now(UTC)
    if args.as_of:
        try:
            now = datetime.fromisoformat(args.as_of)
        except ValueError:
            raise CliError(f"--as-of {args.as_of!r}: expected an ISO date-time", exit_code=2) from None
        if now.tzinfo is None:
            now = now.replace(tzinfo=current.sla.calendar.tz)
    loader, source = rule_plan.default_loader()
    try:
        with open_configured(settings.ledger) as ledger:
            report = rule_plan.build(ledger, current, edited, now, loader=loader, source=source)
    except LedgerError as exc:
        raise CliError(str(exc)) from None
    output = render(report, args.format, tty=args.out is None and sys.stdout.isatty())
    if args.out is None:
        sys.stdout.write(output)
    else:
        args.out.write_text(output, encoding="utf-8")
        print(f"{report.title}: written to {args.out}", file=sys.stderr)
    return 0
