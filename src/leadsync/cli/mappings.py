"""``leadsync mappings validate [DIR]``: check the rule files offline, with located errors."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from leadsync.cli import mappings_plan
from leadsync.cli.common import settings_from
from leadsync.rules.ruleset import load_ruleset


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("mappings", parents=parents, help="check and explain the rule files")
    actions = group.add_subparsers(dest="mappings_command", metavar="ACTION", required=True)
    validate = actions.add_parser(
        "validate", parents=parents,
        help="validate every rule file (offline); exit 0 only when all is valid",
    )
    validate.add_argument("directory", nargs="?", type=Path, help="rule folder (default: [daemon] mappings_dir)")
    validate.set_defaults(func=_validate)
    mappings_plan.register(actions, parents)


def _validate(args: argparse.Namespace) -> int:
    directory: Path = args.directory or settings_from(args).daemon.mappings_dir
    ruleset = load_ruleset(directory)  # RuleSetError is printed, located, by the entry point
    lifecycle = ruleset.lifecycle
    print(f"{directory}: valid, rule-set version {ruleset.version}")
    for name in sorted(ruleset.sources):
        print(f"  ok  {name}")
    print(f"  lifecycle statuses: {' -> '.join(lifecycle.status_names())}")
    return 0
