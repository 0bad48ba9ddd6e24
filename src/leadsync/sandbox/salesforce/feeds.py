"""``/sobjects/{Type}/updated`` and ``/deleted``: the replication feeds.

As in the real API, start and end are cut to whole minutes, the window may not reach further back than
30 days (updated) or 15 days (deleted), and ``latestDateCovered`` never passes the server's now.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from leadsync.sandbox.salesforce.schema import ObjectSchema
from leadsync.sandbox.salesforce.store import OrgStore, RequestError
from leadsync.sandbox.salesforce.values import format_datetime, parse_datetime

UPDATED_DAYS = 30
DELETED_DAYS = 15


def _window(start_text: str | None, end_text: str | None, now: datetime, days: int) -> tuple[str, str, str]:
    """Start and end as stored-datetime strings, plus latestDateCovered."""
    for name, text in (("start", start_text), ("end", end_text)):
        if not text:
            raise RequestError("MISSING_ARGUMENT", f"Missing argument: {name}")
    start, end = parse_datetime(start_text or ""), parse_datetime(end_text or "")
    if start is None or end is None:
        raise RequestError("INVALID_REPLICATION_DATE", "start and end must be ISO 8601 date-times")
    start, end = start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)
    if end < start:
        raise RequestError("INVALID_REPLICATION_DATE", "end date cannot be before start date")
    if start < now - timedelta(days=days):
        raise RequestError("INVALID_REPLICATION_DATE", f"startDate cannot be more than {days} days ago")
    covered = min(end, now.replace(second=0, microsecond=0))
    return format_datetime(start), format_datetime(end), format_datetime(covered)


def changed_ids(store: OrgStore, schema: ObjectSchema, start_text: str | None, end_text: str | None,
                now: datetime) -> dict[str, Any]:
    start, end, covered = _window(start_text, end_text, now, UPDATED_DAYS)
    upper = min(end, covered)
    ids = [r["Id"] for r in store.live[schema.name].values() if start <= r["SystemModstamp"] < upper]
    return {"ids": ids, "latestDateCovered": covered}


def deleted_ids(store: OrgStore, schema: ObjectSchema, start_text: str | None, end_text: str | None,
                now: datetime, started_at: datetime) -> dict[str, Any]:
    start, end, covered = _window(start_text, end_text, now, DELETED_DAYS)
    upper = min(end, covered)
    log = store.deleted_log[schema.name]
    records = [{"id": record_id, "deletedDate": stamp} for record_id, stamp in log if start <= stamp < upper]
    earliest = min((stamp for _, stamp in log), default=format_datetime(started_at))
    return {"deletedRecords": records, "earliestDateAvailable": earliest, "latestDateCovered": covered}
