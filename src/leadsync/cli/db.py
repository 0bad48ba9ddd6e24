"""``leadsync db``: build, inspect and roll back the ledger schema.

Every expected failure (bad URL, unreachable server, locked SQLite file, a schema newer than this code,
an unknown revision) is one ``leadsync: ...`` line on stderr and a non-zero exit; each command runs in a
single transaction, so a failure leaves the schema as it was.
"""

from __future__ import annotations

import argparse

from leadsync.cli.common import CliError, settings_from
from leadsync.ledger import LedgerError, SchemaState, SchemaStatus, downgrade, status, upgrade
from leadsync.ledger.engine import parse_url, shown


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], parents: list[argparse.ArgumentParser]
) -> None:
    db = subparsers.add_parser("db", parents=parents, help="create, inspect and migrate the ledger database")
    commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)

    up = commands.add_parser("upgrade", parents=parents, help="migrate the ledger schema to this version (or REV)")
    up.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    up.set_defaults(func=run_upgrade)

    cur = commands.add_parser("current", parents=parents, help="show the schema revision and whether it is current")
    cur.set_defaults(func=run_current)

    down = commands.add_parser("downgrade", parents=parents, help="migrate the ledger schema down to REV")
    down.add_argument("revision", metavar="REV", help='target revision: an id, "-1", or "base" (drops every table)')
    down.set_defaults(func=run_downgrade)


def _url(args: argparse.Namespace) -> str:
    return settings_from(args).ledger.url


def _describe(found: SchemaStatus) -> str:
    if found.state is SchemaState.EMPTY:
        return f"no schema (head is {found.head}; run `leadsync db upgrade`)"
    if found.state is SchemaState.CURRENT:
        return f"{found.revision} (head)"
    if found.state is SchemaState.BEHIND:
        return f"{found.revision} (out of date: head is {found.head}; run `leadsync db upgrade`)"
    return f"{found.revision} (newer than this leadsync, whose head is {found.head})"


def run_upgrade(args: argparse.Namespace) -> int:
    url = _url(args)
    try:
        before = status(url)
        after = upgrade(url, args.revision)
    except LedgerError as exc:
        raise CliError(str(exc)) from None
    where = shown(parse_url(url))
    if before.revision == after.revision:
        print(f"ledger {where} already at {_describe(after)}")
    else:
        print(f"ledger {where} upgraded from {before.revision or 'empty'} to {_describe(after)}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    url = _url(args)
    try:
        found = status(url)
    except LedgerError as exc:
        raise CliError(str(exc)) from None
    if found.state is SchemaState.AHEAD:
        raise CliError(f"ledger schema is at {_describe(found)}: upgrade leadsync")
    print(_describe(found))
    return 0


def run_downgrade(args: argparse.Namespace) -> int:
    url = _url(args)
    try:
        before = status(url)
        after = downgrade(url, args.revision)
    except LedgerError as exc:
        raise CliError(str(exc)) from None
    print(f"ledger {shown(parse_url(url))} downgraded from {before.revision or 'empty'} to {after.revision or 'base'}")
    return 0
