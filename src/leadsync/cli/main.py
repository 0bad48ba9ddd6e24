"""The ``leadsync`` command line: one module per command group under ``leadsync.cli``.

Each command module defines ``register(subparsers, parents)`` and sets ``func`` on its parsers; a
``func`` takes the parsed arguments and returns an exit code. Expected failures (bad config, bad rule
files, an unreachable database) raise :class:`CliError` or a known error type and are printed as one
clear message, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from leadsync.cli.common import CliError, common_parent
from leadsync.config.settings import ConfigError
from leadsync.rules.source import RuleSetError

# Command groups, in the order `leadsync --help` lists them.
COMMAND_MODULES = (
    "mappings", "db", "sandbox", "sync", "score", "run", "status", "demo", "report",
)


def build_parser() -> argparse.ArgumentParser:
    parent = common_parent()
    parser = argparse.ArgumentParser(
        prog="leadsync",
        description="Scores, grades and moves leads through the funnel in Salesforce and HubSpot.",
        parents=[parent],
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module_name = f"leadsync.cli.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(subparsers, [parent])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
        return code
    except ConfigError as exc:
        print(f"leadsync: {exc}", file=sys.stderr)
        return 2
    except RuleSetError as exc:
        print("leadsync: the rule files are invalid:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    except CliError as exc:
        print(f"leadsync: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("leadsync: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
