"""The Salesforce connector: incremental keyset pulls, sObject Collections writes, read-back and preflight.

Every API request goes through ``SalesforceConnection.call`` (rate limiter, retries, one bounded
re-login) and makes exactly one HTTP request, counted here per endpoint (retries included, as the org
counts them), so :meth:`SalesforceConnector.calls` matches what the server saw.

Pull cost: one ``queryAll`` per stream and window plus one ``query_more`` per further page of
``batch_size`` records. ``queryAll`` (not ``query``) so that records in the recycle bin arrive in the
same keyset as ``deleted=True`` records, at no extra call. User and Group have no ``IsDeleted`` and are
read with ``query``. The overlap re-read before the watermark (for rows committed late) leaves out rows
the integration user modified last (our write-backs, already seen), so a write-back is read back once,
not every cycle for the length of the overlap. The Opportunity stream spends one more query per pull (a
semi-join, only when a page holds a live deal with an account) to find the contacts of the deals'
accounts; a deal's ``ContactId`` (set by lead conversion) needs none.

Writes: ``PATCH composite/sobjects`` with ``allOrNone=false``, at most 200 records per call, one object
type per call; each result is matched to its record by position. A call whose answer is lost after it
may have reached the org is not resent (the policy's ``write=True``): its records are read back, and each
is ok when it holds every value sent, a transient failure otherwise.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import requests
from simple_salesforce.api import Salesforce

from leadsync.config.settings import Settings
from leadsync.connectors import salesforce_convert as convert
from leadsync.connectors.errors import ConnectorError, PermanentError, ResponseLost, TransientError
from leadsync.connectors.policy import SALESFORCE_LOCK_CODES
from leadsync.connectors.port import CallCounts, Page, PreflightProblem, PulledRecord, WriteResult
from leadsync.connectors.ratelimit import CallCounters, Clock
from leadsync.connectors.salesforce_auth import SalesforceConnection
from leadsync.connectors.salesforce_soql import checked_object, ids_soql, keyset_soql, semi_join_soql
from leadsync.domain.contact_status import ContactStatusRules
from leadsync.domain.fields import FieldMappings, possible_values
from leadsync.domain.lifecycle import LifecycleRules
from leadsync.domain.model import System
from leadsync.domain.planner import FieldWrite, Scalar, Target, canonical
from leadsync.domain.watermark import Watermark, Window, keyset_after

T = TypeVar("T")
STREAMS: tuple[str, ...] = ("User", "Group", "Lead", "Contact", "Opportunity", "Task", "Event", "CampaignMember")
PERSON_OBJECTS = ("Lead", "Contact")
DEFAULT_BATCH_SIZE = 2000  # the API's default and maximum query page
COLLECTION_LIMIT = 200  # records per sObject Collections call
IDS_PER_QUERY = 200  # ids per IN (...) list: ~4 KB of SOQL, well inside the URL limit
PICKLIST_TYPES = frozenset({"picklist", "multipicklist"})
PreflightCheck = tuple[str, str, str, frozenset[str] | None]  # where, object, field, values to write
MappingCheck = tuple[str, str, str, frozenset[str] | None, bool]  # ... and whether leadsync writes it


@dataclass(frozen=True)
class StreamSpec:
    object: str
    fields: tuple[str, ...]
    include_deleted: bool = True
    equals: tuple[tuple[str, str | bool], ...] = ()


class SalesforceConnector:
    """:class:`leadsync.connectors.port.CrmConnector` for one Salesforce org."""

    system = System.SALESFORCE

    def __init__(self, connection: SalesforceConnection, mappings: FieldMappings, *, overlap_seconds: int = 300,
                 batch_size: int = DEFAULT_BATCH_SIZE, server_time_max_age: float = 60.0,
                 clock: Clock = time.monotonic) -> None:
        if not 200 <= batch_size <= 2000:
            raise ValueError(f"batch_size must be 200..2000 (the API's range), got {batch_size}")
        self.connection = connection
        self.mappings = mappings
        self.overlap = timedelta(seconds=overlap_seconds)
        self.batch_size = batch_size
        self.server_time_max_age = server_time_max_age
        self.clock = clock
        self._lock = threading.Lock()
        self._counts = CallCounts()
        self._server_date: tuple[datetime, float] | None = None
        self._describes: dict[str, dict[str, dict[str, Any]]] = {}
        connection.http.hooks["response"].append(self._observe_date)

    @classmethod
    def from_settings(cls, settings: Settings, mappings: FieldMappings, *,
                      credentials_overrides: Mapping[str, Any] | None = None,
                      counters: CallCounters | None = None) -> SalesforceConnector:
        connection = SalesforceConnection.from_settings(
            settings, credentials_overrides=dict(credentials_overrides or {}), counters=counters)
        return cls(connection, mappings, overlap_seconds=settings.salesforce.overlap_seconds)

    # ----- calls and server time ---------------------------------------------------------------------
    def _call(self, endpoint: str, fn: Callable[[Salesforce], T], *, write: bool = False) -> T:
        def counted(sf: Salesforce) -> T:
            with self._lock:  # counted per attempt: the policy runs this again for each retry
                if write:
                    self._counts.writes += 1
                else:
                    self._counts.reads += 1
                self._counts.by_endpoint[endpoint] = self._counts.by_endpoint.get(endpoint, 0) + 1
            return fn(sf)

        return self.connection.call(counted, write=write)

    def calls(self) -> CallCounts:
        with self._lock:
            counts = self._counts
            return CallCounts(reads=counts.reads, writes=counts.writes, by_endpoint=dict(counts.by_endpoint))

    def _observe_date(self, response: requests.Response, *_: Any, **__: Any) -> None:
        try:
            moment = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
        except (TypeError, ValueError):
            return
        if moment.tzinfo is not None:
            self._server_date = (moment.astimezone(UTC), self.clock())

    def server_time(self) -> datetime:
        """The org's clock: the last response's ``Date`` plus the time elapsed since (measured locally
        with a monotonic clock, so a wrong local wall clock does not matter); a ``limits`` call when no
        response is recent enough. ``Date`` has whole seconds, so this runs up to a second behind the org:
        a window ending a little early only leaves records for the next cycle."""
        if self._server_date is None and self.connection.session is None:
            self.connection.login()  # the token reply carries a Date, outside the API allocation
        seen = self._server_date
        if seen is None or self.clock() - seen[1] > self.server_time_max_age:
            self._call("limits", lambda sf: sf.restful("limits"))
            seen = self._server_date
            if seen is None:
                raise PermanentError("the org's responses carry no Date header", system="salesforce")
        return seen[0] + timedelta(seconds=max(0.0, self.clock() - seen[1]))

    # ----- pulling -----------------------------------------------------------------------------------
    def streams(self) -> Sequence[str]:
        return STREAMS

    def stream_spec(self, stream: str) -> StreamSpec:
        if stream in PERSON_OBJECTS:
            mapped = [m.field for m in self.mappings.inbound(System.SALESFORCE, stream)]
            mapped += [m.field for m in self.mappings.outbound(System.SALESFORCE, stream)]
            self._check_described(stream, mapped)
            return StreamSpec(stream, (*convert.PERSON_BASE_FIELDS[stream], *mapped))
        fixed = {
            "User": StreamSpec("User", convert.USER_FIELDS, include_deleted=False),
            "Group": StreamSpec("Group", convert.QUEUE_FIELDS, include_deleted=False, equals=(("Type", "Queue"),)),
            "Opportunity": StreamSpec("Opportunity", convert.OPPORTUNITY_FIELDS),
            "Task": StreamSpec("Task", convert.TASK_FIELDS),
            "Event": StreamSpec("Event", convert.EVENT_FIELDS),
            "CampaignMember": StreamSpec("CampaignMember", convert.CAMPAIGN_MEMBER_FIELDS),
        }
        if stream not in fixed:
            raise ValueError(f"unknown Salesforce stream {stream!r} (streams: {', '.join(STREAMS)})")
        return fixed[stream]

    def _check_described(self, object_name: str, fields: Sequence[str]) -> None:
        """Mapped names are checked against the describe when a preflight has fetched it (no extra call)."""
        described = self._describes.get(object_name)
        missing = [f for f in fields if described is not None and f.lower() not in described]
        if missing:
            raise PermanentError(f"{object_name} has no field(s) {', '.join(missing)}: fix the field mappings",
                                 system="salesforce", error_code="INVALID_FIELD", fields=tuple(missing))

    def pull(self, stream: str, mark: Watermark, window: Window) -> Iterator[Page]:
        """Pages of ``stream`` in ``window`` after ``mark``'s keyset, oldest first, deletes included."""
        spec = self.stream_spec(stream)
        if window.empty:
            return
        soql = keyset_soql(spec.object, spec.fields, window, keyset_after(mark, window.start), equals=spec.equals,
                           skip_own=self._skip_own(mark, window))
        contacts: dict[str, list[str]] | None = None  # the deals' account contacts, read once per pull
        for records in self._pages(soql, include_deleted=spec.include_deleted):
            if not records:
                continue
            if stream == "Opportunity" and contacts is None and any(_live_account(r) for r in records):
                contacts = self._account_contacts(keyset_after(mark, window.start)[0] or window.start)
            yield self._page(stream, records, contacts or {})

    def _skip_own(self, mark: Watermark, window: Window) -> tuple[datetime, str] | None:
        """``(until, integration user)`` when the window re-reads an overlap before the watermark.

        Rows stamped before the watermark were there for the reads that moved it; our own writes all
        come after the pull they follow, so a row in ``[start, watermark)`` last modified by us is one
        such read already saw. Only other users' rows there can be news (committed late, with an older
        stamp), so only those are re-read; from the watermark on, everything is.
        """
        if mark.value is None or window.start is None or window.start >= mark.value:
            return None
        session = self.connection.session or self.connection.login()
        return (mark.value, session.user_id) if session.user_id else None

    def _pages(self, soql: str, *, include_deleted: bool) -> Iterator[list[dict[str, Any]]]:
        """Each API page of one query: the first request, then ``nextRecordsUrl`` until ``done``."""
        headers = {"Sforce-Query-Options": f"batchSize={self.batch_size}"}
        reply = self._call("query", lambda sf: sf.query(soql, include_deleted=include_deleted, headers=headers))
        while True:
            yield list(reply.get("records") or ())
            next_url = reply.get("nextRecordsUrl")
            if reply.get("done", True) or not next_url:
                return
            reply = self._call("query_more", partial(_query_more, url=str(next_url), headers=headers))

    def _page(self, stream: str, raws: list[dict[str, Any]], contacts: Mapping[str, list[str]]) -> Page:
        keys = [convert.cursor_key(stream, raw) for raw in raws]
        records: list[PulledRecord | None]
        if stream in PERSON_OBJECTS:
            inbound = self.mappings.inbound(System.SALESFORCE, stream)
            outbound = [m.field for m in self.mappings.outbound(System.SALESFORCE, stream)]
            records = [convert.person_record(stream, raw, inbound, outbound) for raw in raws]
        elif stream == "Opportunity":
            records = [convert.opportunity_record(raw, contacts) for raw in raws]
        else:
            one: Callable[[dict[str, Any]], PulledRecord | None] = {
                "User": convert.user_record, "Group": convert.queue_record, "Task": convert.task_record,
                "Event": convert.event_record, "CampaignMember": convert.campaign_member_record,
            }[stream]
            records = [one(raw) for raw in raws]
        return Page(stream=stream, records=[r for r in records if r is not None], cursor_keys=keys)

    def _account_contacts(self, since: datetime | None) -> dict[str, list[str]]:
        """AccountId -> contact ids for every account with a live deal stamped at or after ``since`` (the
        pull's lower bound), in one semi-join query (plus its further pages). SOQL cannot reach an
        account's contacts from the Opportunity query itself (a sub-select must be a child relationship
        of the queried object). Stamps only move forward, so a deal of the pull still matches ``since``
        even if it changed again after its page was read."""
        soql = semi_join_soql("Contact", ["AccountId"], "AccountId", "Opportunity", "AccountId", since)
        found: dict[str, list[str]] = {}
        for records in self._pages(soql, include_deleted=False):
            for raw in records:
                found.setdefault(str(raw["AccountId"]), []).append(str(raw["Id"]))
        return found

    # ----- reading back ------------------------------------------------------------------------------
    def read_current(self, targets: Sequence[Target], fields: Sequence[str]) -> Mapping[Target, Mapping[str, Scalar]]:
        """The named fields of each target that still exists (missing or deleted targets are absent)."""
        by_object: dict[str, dict[str, Target]] = {}
        for target in targets:
            self._check_target(target)
            by_object.setdefault(target.object, {})[target.record_id[:15]] = target
        found: dict[Target, Mapping[str, Scalar]] = {}
        for object_name, wanted in sorted(by_object.items()):
            ids = sorted({t.record_id for t in wanted.values()})
            for start in range(0, len(ids), IDS_PER_QUERY):
                soql = ids_soql(object_name, fields, ids[start:start + IDS_PER_QUERY])
                for records in self._pages(soql, include_deleted=False):
                    for raw in records:
                        hit = wanted.get(str(raw.get("Id"))[:15])
                        if hit is not None:
                            found[hit] = {name: convert.field_value(raw, name) for name in fields}
        return found

    @staticmethod
    def _check_target(target: Target) -> None:
        if target.system is not System.SALESFORCE:
            raise ValueError(f"not a Salesforce target: {target}")

    # ----- writing -----------------------------------------------------------------------------------
    def apply(self, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """One result per target record; per-record and per-call failures become results, never raise
        (only QuotaExhausted and AuthError propagate: the run must stop). ``clear_first`` is a HubSpot
        lifecycle-stage concern; Salesforce picklists take any allowed value directly."""
        values: dict[Target, dict[str, Scalar]] = {}
        for write in writes:
            self._check_target(write.target)
            values.setdefault(write.target, {})[write.field] = write.value
        results: list[WriteResult] = []
        by_object: dict[str, list[Target]] = {}
        for target in sorted(values):
            by_object.setdefault(target.object, []).append(target)
        for object_name, targets in by_object.items():
            for start in range(0, len(targets), COLLECTION_LIMIT):
                chunk = targets[start:start + COLLECTION_LIMIT]
                results.extend(self._apply_chunk(object_name, chunk, values))
        return results

    def _apply_chunk(self, object_name: str, targets: list[Target],
                     values: Mapping[Target, Mapping[str, Scalar]]) -> list[WriteResult]:
        bodies: list[dict[str, Any]] = []
        sendable: list[Target] = []
        results: dict[Target, WriteResult] = {}
        for target in targets:
            try:
                fields = {name: wire_value(value) for name, value in values[target].items()}
            except ValueError as exc:
                results[target] = WriteResult(target, False, "INVALID_VALUE", str(exc), tuple(values[target]))
                continue
            bodies.append({"attributes": {"type": object_name}, "id": target.record_id, **fields})
            sendable.append(target)
        if bodies:
            payload = {"allOrNone": False, "records": bodies}
            try:
                reply = self._call("composite.sobjects", lambda sf: sf.restful(
                    "composite/sobjects", method="PATCH", json=payload), write=True)
                results.update(zip(sendable, match_results(sendable, reply), strict=True))
            except ResponseLost as lost:  # it may have been committed: read back, never resend blindly
                results.update(self._resolve_lost(sendable, values, lost))
            except (TransientError, PermanentError) as exc:
                results.update((t, call_failure(t, exc)) for t in sendable)
        return [results[t] for t in targets]

    def _resolve_lost(self, targets: list[Target], values: Mapping[Target, Mapping[str, Scalar]],
                      lost: ResponseLost) -> dict[Target, WriteResult]:
        """A collections call whose answer was lost: one read-back says, per record, whether it took the
        write (it holds every value sent) or not (a transient failure: the next cycle plans it again)."""
        fields = sorted({name for t in targets for name in values[t]})
        try:
            held = self.read_current(targets, fields)
        except (TransientError, PermanentError) as exc:
            return {t: WriteResult(t, False, "RESPONSE_LOST", f"{lost.message}; the read-back failed too "
                                   f"({exc.message})", tuple(values[t]), transient=True) for t in targets}
        results: dict[Target, WriteResult] = {}
        for target in targets:
            now = held.get(target)
            if now is not None and all(canonical(now.get(k)) == canonical(v) for k, v in values[target].items()):
                results[target] = WriteResult(target, True)
            else:
                results[target] = WriteResult(target, False, "RESPONSE_LOST", f"{lost.message}; the record does "
                                              "not hold it", tuple(values[target]), transient=True)
        return results

    # ----- preflight ---------------------------------------------------------------------------------
    def describe(self, object_name: str) -> dict[str, dict[str, Any]]:
        """Field name (lower case) -> describe metadata; fetched once per object and connector."""
        if object_name not in self._describes:
            path = f"sobjects/{checked_object(object_name)}/describe"
            body = self._call("describe", lambda sf: sf.restful(path)) or {}
            self._describes[object_name] = {str(f["name"]).lower(): f for f in body.get("fields") or ()}
        return self._describes[object_name]

    def preflight(self, fields: Sequence[PreflightCheck]) -> list[PreflightProblem]:
        """Check each ``(where, object, field, values)`` leadsync writes against a fresh describe."""
        return self._preflight([(where, obj, name, values, True) for where, obj, name, values in fields])

    def problems_for_mappings(self, mappings: FieldMappings, lifecycle: LifecycleRules,
                              contact_status: ContactStatusRules) -> list[PreflightProblem]:
        """Every Salesforce mapping line checked: fields leadsync writes must be updateable and offer every
        value the rules can write; fields it only reads (other owners, inbound) must exist."""
        return self._preflight(mapping_checks(mappings, lifecycle, contact_status))

    def _preflight(self, checks: Sequence[MappingCheck]) -> list[PreflightProblem]:
        self._describes.clear()  # metadata changes between runs; each object is described once per preflight
        problems: list[PreflightProblem] = []
        for where, object_name, field_name, values, must_write in checks:
            def problem(text: str, obj: str = object_name, name: str = field_name, at: str = where) -> None:
                problems.append(PreflightProblem(at, System.SALESFORCE, obj, name, text))
            try:
                described = self.describe(object_name)
            except PermanentError as exc:
                problem(f"object {object_name} cannot be described ({exc.error_code or exc.status}): "
                        "it does not exist or the integration user cannot see it")
                continue
            meta = described.get(field_name.lower())
            if meta is None:
                problem(f"{object_name}.{field_name} does not exist or is not visible to the integration user")
                continue
            if must_write and not meta.get("updateable"):
                problem(f"{object_name}.{field_name} is not updateable by the integration user")
            if must_write and values and meta.get("type") in PICKLIST_TYPES:
                offered = {str(p["value"]) for p in meta.get("picklistValues") or () if p.get("active")}
                missing = sorted(values - offered)
                if missing:
                    how = "restricted picklist refuses" if meta.get("restrictedPicklist") else "picklist does not offer"
                    problem(f"{object_name}.{field_name}: {how} {', '.join(repr(v) for v in missing)} "
                            "(the rules can write it; add it as an active value or change the value map)")
        return problems


def mapping_checks(mappings: FieldMappings, lifecycle: LifecycleRules,
                   contact_status: ContactStatusRules) -> list[MappingCheck]:
    """``(where, object, field, values, must_write)`` for every Salesforce mapping line: outbound fields
    leadsync owns with the values the rules can write (``None`` for non-enumerations); read-only lines
    (fields another owner keeps, inbound fields) only need to exist."""
    checks: list[MappingCheck] = []
    for m in mappings.outbound_mappings:
        if m.system is System.SALESFORCE:
            values = _values(possible_values(m, lifecycle, contact_status)) if m.owned_by_leadsync else None
            checks.append((m.where, m.object, m.field, values, m.owned_by_leadsync))
    checks += [(m.where, m.object, m.field, None, False)
               for m in mappings.inbound_mappings if m.system is System.SALESFORCE]
    return checks


def _live_account(raw: Mapping[str, Any]) -> bool:
    return bool(raw.get("AccountId")) and not raw.get("IsDeleted")


def _values(values: tuple[str, ...] | None) -> frozenset[str] | None:
    return frozenset(values) if values is not None else None


def _query_more(sf: Salesforce, *, url: str, headers: Mapping[str, str]) -> Any:
    return sf.query_more(url, identifier_is_url=True, headers=headers)


# ----- write helpers ----------------------------------------------------------------------------------


def wire_value(value: Scalar) -> Scalar:
    """JSON for a collections body: datetimes in the API's ISO form (UTC), the rest as JSON scalars."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"datetime without a time zone: {value.isoformat()}")
        moment = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
    if isinstance(value, float) and value != value:
        raise ValueError("NaN is not a value Salesforce can store")
    return value


def match_results(targets: Sequence[Target], reply: Any) -> list[WriteResult]:
    """Collections results are positional; a missing or foreign result is a transient failure (the
    record's state is unknown: read it back before resending)."""
    items = reply if isinstance(reply, list) else []
    matched: list[WriteResult] = []
    for index, target in enumerate(targets):
        item = items[index] if index < len(items) and isinstance(items[index], dict) else None
        if item is None or (item.get("id") and str(item["id"])[:15] != target.record_id[:15]):
            matched.append(WriteResult(target, False, "NO_RESULT", "no matching result in the reply", transient=True))
        elif item.get("success"):
            matched.append(WriteResult(target, True))
        else:
            errors = [e for e in item.get("errors") or () if isinstance(e, dict)] or [{}]
            first = errors[0]
            code = str(first.get("statusCode") or "UNKNOWN_ERROR")
            matched.append(WriteResult(
                target, False, code, str(first.get("message") or ""), tuple(str(f) for f in first.get("fields") or ()),
                transient=code in SALESFORCE_LOCK_CODES,
            ))
    return matched


def call_failure(target: Target, exc: ConnectorError) -> WriteResult:
    transient = isinstance(exc, TransientError)
    return WriteResult(target, False, exc.error_code or ("TRANSIENT" if transient else "PERMANENT"), exc.message,
                       exc.fields, transient=transient)
