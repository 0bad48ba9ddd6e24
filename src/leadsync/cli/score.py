"""``leadsync score explain EMAIL|ID``: a person's score breakdown, grade criteria and history, from the ledger."""

from __future__ import annotations

import argparse
import json
from typing import Any

from leadsync.cli.common import CliError, settings_from


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    score = subparsers.add_parser("score", parents=parents, help="explain scores and grades")
    commands = score.add_subparsers(dest="score_command", metavar="ACTION", required=True)
    explain = commands.add_parser("explain", parents=parents,
                                  help="why a person has their score, grade and statuses")
    explain.add_argument("who", metavar="EMAIL|ID", help="an email, a leadsync person id, or a CRM record id")
    explain.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    explain.set_defaults(func=explain_command)


def explain_command(args: argparse.Namespace) -> int:
    from leadsync.app import AppError, build_app
    from leadsync.ledger import LedgerError
    from leadsync.sync.explain import PersonNotFound, explain, render_text

    settings = settings_from(args)
    try:
        with build_app(settings, connectors=False) as app, app.ledger.reading() as uow:
            data = explain(uow, app.ruleset, args.who, app.clock())
    except (AppError, LedgerError) as exc:
        raise CliError(str(exc)) from exc
    except PersonNotFound as exc:
        raise CliError(str(exc)) from exc
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False) if args.format == "json"
          else render_text(data))
    return 0
