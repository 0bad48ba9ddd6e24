"""``leadsync report sla|funnel|audit|scoring``: the reports leaders read, from the ledger (read-only).

Dates given without a time zone are read in the SLA calendar's time zone (the team's local time), so
``--since 2026-11-01`` means midnight where the team works.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

from leadsync.cli.common import CliError, settings_from
from leadsync.ledger import LedgerError, open_configured
from leadsync.reports import FORMATS, GROUPINGS, REPORTS, Window, build_report, render
from leadsync.reports.audit import UnknownPerson
from leadsync.reports.common import DEFAULT_DAYS
from leadsync.rules.ruleset import load_ruleset

AUDIT_DAYS = 7


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("report", parents=parents, help="SLA, funnel, audit and scoring reports")
    kinds = group.add_subparsers(dest="report_name", metavar="REPORT", required=True)
    helps = {
        "sla": "SLA compliance per owner/team/source, business-time medians, speed to lead, breaches",
        "funnel": "people per stage per period, cohort conversion, time in stage, abnormal flows",
        "audit": "every transition, its rule, facts and score then, and every CRM write (one person or a window)",
        "scoring": "conversion rate per score band and grade, per rule-set version",
    }
    for name in REPORTS:
        parser = kinds.add_parser(name, parents=parents, help=helps[name])
        _common_options(parser)
        if name == "sla":
            parser.add_argument("--by", choices=GROUPINGS, default="owner", help="group compliance by (default owner)")
        if name == "funnel":
            parser.add_argument("--period", choices=("day", "week", "month"), default="week")
        if name == "audit":
            parser.add_argument("--person", metavar="EMAIL|ID", help="one person (email, leadsync or CRM id)")
        parser.set_defaults(func=run)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="WHEN",
                        help="start (ISO date or date-time; default 90 days before until, 7 for audit)")
    parser.add_argument("--until", metavar="WHEN", help="end, exclusive (default: now)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    parser.add_argument("--out", metavar="PATH", type=Path, help="write to a file instead of standard output")
    parser.add_argument("--mappings", metavar="DIR", type=Path, help="rule folder (default: [daemon] mappings_dir)")
    parser.add_argument("--as-of", metavar="WHEN", dest="as_of",
                        help="evaluate as of this instant instead of now (reproducible reports)")


def parse_instant(value: str, tz: tzinfo, option: str) -> datetime:
    """An ISO date (midnight in ``tz``) or date-time (``tz`` when it has no offset)."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=tz)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"{option} {value!r}: expected an ISO date (2026-11-01) or date-time "
                       f"(2026-11-01T09:00+01:00)", exit_code=2) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    ruleset = load_ruleset(args.mappings or settings.daemon.mappings_dir)
    tz = ruleset.sla.calendar.tz
    now = parse_instant(args.as_of, tz, "--as-of") if args.as_of else datetime.now(UTC)
    since = parse_instant(args.since, tz, "--since") if args.since else None
    until = parse_instant(args.until, tz, "--until") if args.until else None
    try:
        # An audit of everyone lists every change: a week by default, a quarter for the summaries.
        window = Window.default(now, since, until, days=AUDIT_DAYS if args.report_name == "audit" else DEFAULT_DAYS)
    except ValueError as exc:
        raise CliError(str(exc), exit_code=2) from None
    options: dict[str, Any] = {}
    if args.report_name == "sla":
        options["by"] = args.by
    elif args.report_name == "funnel":
        options["period"] = args.period
    elif args.report_name == "audit":
        options["person"] = args.person
    try:
        with open_configured(settings.ledger) as ledger:
            report = build_report(args.report_name, ledger, ruleset, window, **options)
    except UnknownPerson as exc:
        raise CliError(str(exc)) from None
    except LedgerError as exc:
        raise CliError(str(exc)) from None
    output = render(report, args.format, tty=args.out is None and sys.stdout.isatty())
    if args.out is not None:
        try:
            args.out.write_text(output, encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot write {args.out}: {exc.strerror}") from None
        print(f"{report.title}: written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(output)
    return 0
