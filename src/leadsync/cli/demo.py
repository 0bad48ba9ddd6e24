"""``leadsync demo [--persons N] [--dir DIR] [--json]``: the whole flow on the sandbox, in a minute."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from leadsync.cli.common import CliError, settings_from


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
             parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", parents=parents, help="run the whole flow against a local sandbox org (no credentials needed)",
        description="Starts sandbox Salesforce and HubSpot emulators with a seeded org, runs real sync cycles "
                    "into a SQLite ledger, acts as marketing and sales users between them, and prints what "
                    "each cycle did.",
    )
    parser.add_argument("--persons", type=int, default=200, help="people in the sandbox org (default: 200)")
    parser.add_argument("--dir", type=Path, default=None, help="where the ledger and reports go (default: a new "
                        "temporary directory, kept)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated org (default: 42)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with a `cycles` list")
    parser.set_defaults(func=demo)


def demo(args: argparse.Namespace) -> int:
    from leadsync.demo.story import DemoError, run_demo
    from leadsync.demo.summary import CycleSummary, render_text
    from leadsync.ledger import LedgerError
    from leadsync.logging import configure_logging

    if args.persons < 20:
        raise CliError("--persons must be at least 20 (the story needs a few prospects)", exit_code=2)
    settings = settings_from(args)
    configure_logging("warning", settings.daemon.log_format)  # the summary is the output; logs only for trouble
    directory = args.dir or Path(tempfile.mkdtemp(prefix="leadsync-demo-"))
    if (directory / "ledger.db").exists():
        raise CliError(f"{directory / 'ledger.db'} exists; give the demo an empty --dir", exit_code=2)

    def progress(cycle: CycleSummary) -> None:
        if not args.json:
            print(f"cycle {cycle.number}: {cycle.title} ...", file=sys.stderr, flush=True)

    try:
        result = run_demo(settings, directory, persons=args.persons, seed=args.seed, on_cycle=progress)
    except (DemoError, LedgerError, OSError) as exc:
        raise CliError(f"demo stopped: {exc}") from None
    print(json.dumps(result.as_dict(), indent=2) if args.json else render_text(result))
    return 0
