"""``leadsync status [--format json]``: what the daemon has been doing, read from the ledger."""

from __future__ import annotations

import argparse
import json

from leadsync.cli.common import CliError, settings_from
from leadsync.daemon.status import gather, render_text
from leadsync.ledger import LedgerError, open_ledger


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
             parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status", parents=parents,
        help="leader, last runs, watermarks, API budget, quarantine and SLA breaches, from the ledger",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.set_defaults(func=status)


def status(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        with open_ledger(settings.ledger.url) as ledger, ledger.reading() as uow:
            report = gather(uow)
    except LedgerError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(report, indent=2) if args.format == "json" else render_text(report))
    return 0
