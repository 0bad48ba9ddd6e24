"""``leadsync mappings validate [DIR] [--online]``: check the rule files, with located errors.

Offline it checks the files on their own. ``--online`` then connects as configured (the sandbox or the
real org and portal) and runs the start-up preflight: every mapped field is described, and each must
exist, be writable by the integration user and offer every value the rules can write. Exit 0 only when
all is valid; 1 with every problem named by its mapping line otherwise.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadsync.cli import mappings_plan
from leadsync.cli.common import CliError, settings_from
from leadsync.config.settings import Settings
from leadsync.rules.ruleset import RuleSet, load_ruleset


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("mappings", parents=parents, help="check and explain the rule files")
    actions = group.add_subparsers(dest="mappings_command", metavar="ACTION", required=True)
    validate = actions.add_parser(
        "validate", parents=parents,
        help="validate every rule file (offline); exit 0 only when all is valid",
    )
    validate.add_argument("directory", nargs="?", type=Path, help="rule folder (default: [daemon] mappings_dir)")
    validate.add_argument("--online", action="store_true",
                          help="also describe every mapped field in the configured org and portal (the preflight)")
    validate.set_defaults(func=_validate)
    mappings_plan.register(actions, parents)


def _validate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    directory: Path = args.directory or settings.daemon.mappings_dir
    ruleset = load_ruleset(directory)  # RuleSetError is printed, located, by the entry point
    lifecycle = ruleset.lifecycle
    print(f"{directory}: valid, rule-set version {ruleset.version}")
    for name in sorted(ruleset.sources):
        print(f"  ok  {name}")
    print(f"  lifecycle statuses: {' -> '.join(lifecycle.status_names())}")
    horizon = ruleset.sla.calendar.horizon_warning(datetime.now(UTC).date())
    if horizon is not None:
        print(f"  warning: {horizon}")
    return _validate_online(settings, ruleset) if args.online else 0


def _validate_online(settings: Settings, ruleset: RuleSet) -> int:
    from leadsync.app import AppError, connected
    from leadsync.connectors.errors import ConnectorError
    from leadsync.sync.preflight import run_preflight

    notes: list[str] = []
    try:
        with connected(settings, ruleset, notes) as connectors:
            for note in notes:
                print(f"leadsync: {note}", file=sys.stderr)
            result = run_preflight(ruleset, connectors)
    except AppError as exc:
        raise CliError(str(exc)) from None
    except ConnectorError as exc:
        raise CliError(f"online check could not reach the CRM: {exc}") from None
    spent = ", ".join(f"{system} {n} call{'s' if n != 1 else ''}" for system, n in sorted(result.calls.items()))
    lines = len(ruleset.fields.outbound_mappings) + len(ruleset.fields.inbound_mappings)
    if result.ok:
        print(f"  online: {lines} mapped fields checked ({spent or 'no system enabled'}): every mapped field "
              "exists and every field leadsync writes accepts every value the rules can write")
        return 0
    print(f"  online: {len(result.problems)} problem(s) in {lines} mapped fields checked ({spent}):")
    for line in result.lines:
        print(f"  FAIL {line}")
    raise CliError(f"preflight failed: {len(result.problems)} mapping line(s) cannot be used as the rules need")
