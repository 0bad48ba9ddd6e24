"""Safe SOQL for the Salesforce connector: keyset pages on ``(SystemModstamp, Id)`` and id lookups.

Two rules keep every query safe whatever the data holds:

* **Values** (datetimes, ids, filter values) only ever pass through ``simple_salesforce.format_soql``,
  which quotes and escapes them (datetimes become SOQL datetime literals).
* **Names** (objects and fields) cannot be quoted in SOQL, so they must be API names: a strict identifier
  pattern, optionally one relationship hop (``Campaign.Type``). Anything else raises :class:`UnsafeName`
  before a query is built. The connector additionally checks mapped names against the org's describe
  during the preflight.

``format_soql`` drops sub-second digits of datetimes. Salesforce stamps ``SystemModstamp`` to the second,
so a floored window start only widens the window, a floored end excludes nothing that is stamped at or
before it, and a floored keyset timestamp re-reads at most its own second (the watermark drops repeats).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from simple_salesforce.format import format_soql

from leadsync.domain.watermark import Window

# API names: a letter, then letters, digits and underscores (``Lead_Score__c``, ``ns__Field__c``).
_NAME = r"[A-Za-z][A-Za-z0-9_]*"
OBJECT_NAME = re.compile(rf"{_NAME}")
FIELD_NAME = re.compile(rf"{_NAME}(?:\.{_NAME})?")
MAX_NAME_LENGTH = 80
# 15- or 18-character record ids: letters and digits only.
RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
CURSOR_FIELD = "SystemModstamp"


class UnsafeName(ValueError):
    """An object or field name that is not a plain Salesforce API name; it never reaches a query."""


def checked_object(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH or not OBJECT_NAME.fullmatch(name):
        raise UnsafeName(f"not a Salesforce object name: {name[:100]!r}")
    return name


def checked_field(name: str) -> str:
    if len(name) > 2 * MAX_NAME_LENGTH or not FIELD_NAME.fullmatch(name):
        raise UnsafeName(f"not a Salesforce field name: {name[:100]!r}")
    return name


def checked_fields(names: Iterable[str]) -> tuple[str, ...]:
    """Validated names, first occurrence kept (SOQL rejects a field selected twice), case-insensitively."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(checked_field(name).lower(), name)
    return tuple(seen.values())


def is_record_id(value: object) -> bool:
    return isinstance(value, str) and RECORD_ID.fullmatch(value) is not None


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{what} must carry a time zone (got naive {moment.isoformat()})")
    return moment


def keyset_soql(
    object_name: str,
    fields: Sequence[str],
    window: Window,
    after: tuple[datetime | None, str | None],
    *,
    equals: Sequence[tuple[str, str | bool]] = (),
    skip_own: tuple[datetime, str] | None = None,
) -> str:
    """``SELECT fields FROM object`` inside ``window``, strictly after the ``(ts, id)`` keyset ``after``.

    ``after`` with an id that is not a record id (a corrupted watermark) falls back to ``ts >= t``:
    re-reading one second is harmless, putting that text into a query is not. ``equals`` adds fixed
    ``field = value`` filters (e.g. ``Group.Type = 'Queue'``).

    ``skip_own=(until, user_id)``: in the overlap zone ``[window.start, until)`` only, rows last modified
    by ``user_id`` (our own write-backs, already seen) are left out; from ``until`` on, every row is read.
    """
    names = checked_fields(["Id", CURSOR_FIELD, *fields])
    clauses: list[str] = []
    values: dict[str, object] = {"end": _aware(window.end, "window end")}
    if window.start is not None:
        values["start"] = _aware(window.start, "window start")
        if skip_own is not None and is_record_id(skip_own[1]) and window.start < skip_own[0]:
            clauses.append(f"(({CURSOR_FIELD} >= {{start}} AND {CURSOR_FIELD} < {{until}} AND LastModifiedById != "
                           f"{{me}}) OR {CURSOR_FIELD} >= {{until}})")
            values["until"] = _aware(skip_own[0], "overlap end")
            values["me"] = skip_own[1]
        else:
            clauses.append(f"{CURSOR_FIELD} >= {{start}}")
    clauses.append(f"{CURSOR_FIELD} <= {{end}}")
    ts, record_id = after
    if ts is not None:
        values["t"] = _aware(ts, "keyset timestamp")
        if record_id is not None and is_record_id(record_id):
            clauses.append(f"({CURSOR_FIELD} > {{t}} OR ({CURSOR_FIELD} = {{t}} AND Id > {{id}}))")
            values["id"] = record_id
        else:
            clauses.append(f"{CURSOR_FIELD} >= {{t}}")
    for index, (name, value) in enumerate(equals):
        clauses.append(f"{checked_field(name)} = {{v{index}}}")
        values[f"v{index}"] = value
    template = _statement(names, object_name, " AND ".join(clauses), f"{CURSOR_FIELD} ASC, Id ASC")
    return format_soql(template, **values)


def ids_soql(object_name: str, fields: Sequence[str], ids: Sequence[str]) -> str:
    """``SELECT Id, fields FROM object WHERE Id IN (...)``; every id must be a record id."""
    bad = [i for i in ids if not is_record_id(i)]
    if bad:
        raise ValueError(f"not Salesforce record ids: {[b[:40] for b in bad[:5]]!r}")
    template = _statement(checked_fields(["Id", *fields]), object_name, "Id IN {ids}", None)
    return format_soql(template, ids=list(ids))


def in_soql(object_name: str, fields: Sequence[str], key: str, ids: Sequence[str]) -> str:
    """``SELECT Id, fields FROM object WHERE key IN (...) ORDER BY Id`` (e.g. contacts of some accounts)."""
    bad = [i for i in ids if not is_record_id(i)]
    if bad:
        raise ValueError(f"not Salesforce record ids: {[b[:40] for b in bad[:5]]!r}")
    template = _statement(checked_fields(["Id", *fields]), object_name, f"{checked_field(key)} IN {{ids}}", "Id ASC")
    return format_soql(template, ids=list(ids))


def semi_join_soql(object_name: str, fields: Sequence[str], key: str, parent: str, parent_key: str,
                   since: datetime | None) -> str:
    """``SELECT Id, fields FROM object WHERE key IN (SELECT parent_key FROM parent [WHERE SystemModstamp >=
    since])``: e.g. the contacts of every account that has a deal changed since ``since``, in one query
    whatever the number of accounts (a semi-join; the sub-select reads live rows only)."""
    inner = f"SELECT {checked_field(parent_key)} FROM {checked_object(parent)}"  # noqa: S608 - names checked
    values: dict[str, object] = {}
    if since is not None:
        inner += f" WHERE {CURSOR_FIELD} >= {{since}}"
        values["since"] = _aware(since, "semi-join start")
    template = _statement(checked_fields(["Id", *fields]), object_name, f"{checked_field(key)} IN ({inner})", None)
    return format_soql(template, **values)


def _statement(names: Sequence[str], object_name: str, where: str, order: str | None) -> str:
    """The format template of a query. Only checked names and ``{placeholders}`` are joined here; values
    are bound by ``format_soql`` afterwards."""
    statement = f"SELECT {', '.join(checked_fields(names))} FROM {checked_object(object_name)} WHERE {where}"  # noqa: S608
    return f"{statement} ORDER BY {order}" if order else statement
