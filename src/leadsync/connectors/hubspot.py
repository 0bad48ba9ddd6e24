"""The HubSpot connector: the :class:`~leadsync.connectors.port.CrmConnector` port over CRM v3.

Streams (pulled in this order):

* ``owners``: every active owner (listings of up to 500; portals have few), plus the archived listing
  the first time in a process and whenever an owner the previous listing held as active is missing from
  it (that is how a rep who left shows up as inactive; routing skips inactive owners). Owners carry no
  usable change stamp, so each pull yields them all. The first active page is usually already in memory:
  :meth:`server_time` fetched it for its ``Date`` header (see below).
* ``contacts``: search on the ``(lastmodifieddate, hs_object_id)`` keyset (see :mod:`.hubspot_search`).
* ``contacts_archived``: the ``archived=true`` listing. Archiving does not bump ``lastmodifieddate``,
  so search never sees it; the listing has no filter, so every pull re-lists all archived contacts
  (100 per call) and yields only those archived after the watermark. Pull it far less often than
  ``contacts`` (hourly, or at the nightly reconcile). Merged-away contacts vanish instead; the survivor
  (its stamp bumped by the merge) lists them in ``hs_merged_object_ids`` -> ``merged_from``.
* ``calls``, ``emails``, ``meetings``, ``notes``, ``tasks``: search on ``hs_lastmodifieddate``, then one
  associations v4 batch read per up to 1,000 engagements for their contacts; one ActivityRecord per
  (engagement, contact). Archived engagements are not pulled (search does not return them).
* ``events``: the events API for contacts, oldest first, following ``paging.next.after``, up to 1,000
  per page (the published spec states no maximum; the emulator's is 1,000). Listed without an
  ``objectId``, as the emulator serves it; HubSpot documents ``objectId`` or an ``objectProperty``
  filter as required there, so a live portal may need per-contact reads instead.

Every API call goes through :class:`HubSpotConnection` (retries, pacing, budgets) with ``kind="search"``
for search calls. ``server_time`` comes from the ``Date`` header of the last response, advanced by the
monotonic time since; windows are the caller's (``domain.watermark.window`` with :attr:`lag_margin`). When
no response has been seen yet (a fresh process asks before its first pull), it fetches the first page of
active owners, which the ``owners`` stream then serves from memory instead of asking again: a cycle pays
no extra call for its clock.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
)

from leadsync.config.settings import Settings
from leadsync.connectors import hubspot_convert as convert
from leadsync.connectors.errors import ConnectorError, PermanentError, ResponseLost, TransientError
from leadsync.connectors.hubspot_client import HubSpotConnection
from leadsync.connectors.hubspot_search import Hit, KeysetSearch, SearchAnswer
from leadsync.connectors.port import (
    CallCounts,
    OwnerRecord,
    Page,
    PreflightProblem,
    PulledRecord,
    WriteResult,
)
from leadsync.connectors.ratelimit import DEFAULT_KIND, SEARCH_KIND, CallCounters
from leadsync.domain.contact_status import ContactStatusRules
from leadsync.domain.fields import FieldMappings, possible_values
from leadsync.domain.lifecycle import LifecycleRules
from leadsync.domain.model import System
from leadsync.domain.planner import FieldWrite, Scalar, Target, canonical
from leadsync.domain.watermark import Watermark, Window, keyset_after
from leadsync.logging import get_logger

log = get_logger(__name__)

CONTACTS = "contacts"
STREAMS: tuple[str, ...] = ("owners", "contacts", "contacts_archived", *convert.ENGAGEMENT_TYPES, "events")
BATCH_MAX = 100
ASSOCIATIONS_MAX = 1_000
LIST_MAX = 100
OWNERS_MAX = 500
EVENTS_MAX = 1_000
ONE_MS = timedelta(milliseconds=1)
# The owners page server_time() fetched is served to the owners stream if that pull comes within this many
# seconds (the engine asks for server time right before pulling); an older page is fetched again.
PREFETCH_MAX_AGE = 300.0
NO_ASSOCIATIONS = "crm.associations.NO_ASSOCIATIONS_FOUND"
Check = tuple[str, str, str, frozenset[str] | None, bool]  # where, object, property, values, must be writable


class HubSpotConnector:
    system = System.HUBSPOT

    def __init__(self, connection: HubSpotConnection, mappings: FieldMappings, *, lag_margin_seconds: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.connection = connection
        self.mappings = mappings
        self.lag_margin = timedelta(seconds=lag_margin_seconds)
        self._monotonic = monotonic
        self._inbound = mappings.inbound(System.HUBSPOT, CONTACTS)
        self._outbound = mappings.outbound(System.HUBSPOT, CONTACTS)
        self._counts = CallCounts()
        self._last_date: tuple[datetime, float] | None = None
        self._dispositions: dict[str, str] | None = None
        self._prefetched_owners: tuple[dict[str, Any], float] | None = None  # first active page, when fetched
        self._active_owners: frozenset[str] | None = None  # the last active listing (None: not listed yet)
        self.skipped_events: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: Settings, mappings: FieldMappings, *, counters: CallCounters | None = None,
                      **overrides: Any) -> HubSpotConnector:
        """Connection from ``[hubspot]`` (keyword overrides win, e.g. ``host``, ``ca_bundle``, ``sleep``)."""
        lag = float(overrides.pop("lag_margin_seconds", settings.hubspot.lag_margin_seconds))
        if counters is not None:
            overrides["counters"] = counters
        return cls(HubSpotConnection.from_settings(settings, **overrides), mappings, lag_margin_seconds=lag)

    def close(self) -> None:
        self.connection.close()

    # ----- calls -----------------------------------------------------------------------------------
    def _call(self, endpoint: str, method: Callable[[Any], Callable[..., Any]], *, write: bool = False,
              kind: str = DEFAULT_KIND, **arguments: Any) -> dict[str, Any]:
        """One API request under the connection's policy, counted per attempt (retries are calls too).

        ``method`` picks a ``*_with_http_info`` method off the client; ``arguments`` are its arguments.
        """
        def once(hs: Any) -> Any:
            self._counts.by_endpoint[endpoint] = self._counts.by_endpoint.get(endpoint, 0) + 1
            if write:
                self._counts.writes += 1
            else:
                self._counts.reads += 1
            # The raw reply, parsed here: the client's model deserialization (a dateutil parse of every
            # createdAt/updatedAt) cost three times our own conversion of a contact page.
            response = method(hs)(_preload_content=False, **arguments)
            try:
                body = response.data
            finally:
                response.release_conn()
            self._note_date(response.headers)
            try:
                parsed = json.loads(body) if body else {}
            except ValueError as exc:  # a proxy's HTML page or a cut-off body: worth another try
                raise TransientError(f"{endpoint}: reply is not JSON ({exc})", system="hubspot",
                                     status=response.status, error_code="BAD_REPLY") from exc
            return parsed, response.status, response.headers

        data: dict[str, Any] = self.connection.call(once, kind=kind, write=write)
        return data

    def _note_date(self, headers: Any) -> None:
        value = headers.get("Date") if headers is not None else None
        if value:
            try:
                self._last_date = (email.utils.parsedate_to_datetime(value), self._monotonic())
            except (TypeError, ValueError):
                log.warning("hubspot.unreadable_date_header", value=value)

    def calls(self) -> CallCounts:
        return CallCounts(self._counts.reads, self._counts.writes, dict(self._counts.by_endpoint))

    def streams(self) -> Sequence[str]:
        return STREAMS

    def server_time(self) -> datetime:
        """The server's clock: the last response's ``Date`` plus the monotonic time since. When nothing has
        been asked yet, the first page of active owners is fetched and kept for the ``owners`` stream, so
        the call is not an extra one. Never the local wall clock."""
        if self._last_date is None:
            self._prefetched_owners = (self._owners_page(None, archived=False), self._monotonic())
        if self._last_date is None:
            raise TransientError("the server sent no Date header", system="hubspot")
        stamp, at = self._last_date
        return stamp + timedelta(seconds=max(0.0, self._monotonic() - at))

    # ----- pulls -----------------------------------------------------------------------------------
    def pull(self, stream: str, mark: Watermark, window: Window) -> Iterator[Page]:
        if window.empty:
            return
        if stream == "owners":
            yield from self._pull_owners()
        elif stream == CONTACTS:
            yield from self._pull_contacts(mark, window)
        elif stream == "contacts_archived":
            yield from self._pull_archived(mark)
        elif stream in convert.ENGAGEMENT_TYPES:
            yield from self._pull_engagements(stream, mark, window)
        elif stream == "events":
            yield from self._pull_events(mark, window)
        else:
            raise ValueError(f"hubspot has no stream {stream!r}; streams: {', '.join(STREAMS)}")

    def _search_runner(self, object_type: str) -> Callable[[dict[str, Any]], SearchAnswer]:
        def run(body: dict[str, Any]) -> SearchAnswer:
            request = PublicObjectSearchRequest(
                filter_groups=body["filterGroups"], sorts=body["sorts"], properties=body["properties"],
                limit=body["limit"], after=body.get("after"),
            )
            data = self._call(f"{object_type}.search", lambda hs: hs.crm.objects.search_api.do_search_with_http_info,
                              kind=SEARCH_KIND, object_type=object_type, public_object_search_request=request)
            ts_property = "lastmodifieddate" if object_type == CONTACTS else "hs_lastmodifieddate"
            hits = []
            for result in data.get("results") or ():
                properties = result.get("properties") or {}
                stamp = properties.get(ts_property) or result.get("updatedAt")
                hits.append(Hit(str(result["id"]), convert.parse_time(stamp, f"{object_type}/{result['id']} "
                                                                      f"{ts_property}"), properties))
            cursor = _next_after(data)
            return SearchAnswer(hits, int(cursor) if cursor is not None else None)
        return run

    def _search(self, object_type: str, ts_property: str, properties: Sequence[str], mark: Watermark,
                window: Window) -> KeysetSearch:
        after_ts, after_id = keyset_after(mark, window.start)
        return KeysetSearch(self._search_runner(object_type), ts_property=ts_property, properties=properties,
                            end=window.end, after_ts=after_ts, after_id=after_id, start=window.start)

    def _pull_contacts(self, mark: Watermark, window: Window) -> Iterator[Page]:
        properties = convert.contact_properties(self._inbound, self._outbound)
        for hits in self._search(CONTACTS, "lastmodifieddate", properties, mark, window).pages():
            if not hits:  # a short (or fully repeated) page: nothing to commit
                continue
            records = [convert.person_record(h.id, h.properties, inbound=self._inbound, outbound=self._outbound,
                                             modstamp=h.ts) for h in hits]
            yield Page(CONTACTS, records, [(h.ts, h.id) for h in hits])

    def _pull_archived(self, mark: Watermark) -> Iterator[Page]:
        after: str | None = None
        while True:
            data = self._call("contacts.list_archived", lambda hs: hs.crm.objects.basic_api.get_page_with_http_info,
                              object_type=CONTACTS, limit=LIST_MAX, after=after, archived=True,
                              properties=list(convert.STANDARD_CONTACT_PROPERTIES))
            records: list[PulledRecord] = []
            keys: list[tuple[datetime, str]] = []
            for item in data.get("results") or ():
                record_id = str(item["id"])
                stamp = convert.parse_time(item.get("archivedAt") or item.get("updatedAt"),
                                           f"contacts/{record_id} archivedAt")
                if mark.is_new(stamp, record_id):
                    records.append(convert.person_record(record_id, item.get("properties") or {}, inbound=(),
                                                         outbound=(), modstamp=stamp, deleted=True))
                    keys.append((stamp, record_id))
            if records:
                yield Page("contacts_archived", records, keys)
            after = _next_after(data)
            if after is None:
                return

    def _pull_owners(self) -> Iterator[Page]:
        active: set[str] = set()
        for page in self._owner_pages(archived=False):
            active.update(o.owner_id for o in page.records if isinstance(o, OwnerRecord))
            yield page
        previous, self._active_owners = self._active_owners, frozenset(active)
        if previous is None or not previous <= active:  # first listing, or someone left the active list
            yield from self._owner_pages(archived=True)

    def _owner_pages(self, *, archived: bool) -> Iterator[Page]:
        after: str | None = None
        while True:
            data = self._owners_page(after, archived=archived)
            owners = [convert.owner_record(str(o["id"]), o.get("email"), bool(o.get("archived")),
                                           o.get("updatedAt")) for o in data.get("results") or ()]
            if owners:
                yield Page("owners", owners, [(o.modstamp, o.owner_id) for o in owners if o.modstamp is not None])
            after = _next_after(data)
            if after is None:
                return

    def _owners_page(self, after: str | None, *, archived: bool) -> dict[str, Any]:
        """One owners listing page; the first active page comes from :meth:`server_time`'s fetch when recent."""
        kept, self._prefetched_owners = self._prefetched_owners, None
        if kept is not None and after is None and not archived and self._monotonic() - kept[1] <= PREFETCH_MAX_AGE:
            return kept[0]
        return self._call("owners.list", lambda hs: hs.crm.owners.owners_api.get_page_with_http_info,
                          limit=OWNERS_MAX, after=after, archived=archived)

    def _pull_engagements(self, kind: str, mark: Watermark, window: Window) -> Iterator[Page]:
        """Search pages are held until 1,000 engagements (or the end) so one associations call serves five."""
        search = self._search(kind, "hs_lastmodifieddate", convert.ENGAGEMENT_PROPERTIES[kind], mark, window)
        held: list[list[Hit]] = []
        for hits in search.pages():
            if sum(len(h) for h in held) + len(hits) > ASSOCIATIONS_MAX:
                yield from self._engagement_pages(kind, held)
                held = []
            held.append(hits)
        yield from self._engagement_pages(kind, held)

    def _engagement_pages(self, kind: str, held: list[list[Hit]]) -> Iterator[Page]:
        contacts = self._associated_contacts(kind, [h.id for hits in held for h in hits])
        for hits in held:
            records: list[PulledRecord] = []
            for hit in hits:
                records.extend(convert.engagement_records(kind, hit.id, hit.properties, contacts.get(hit.id, ()),
                                                          modstamp=hit.ts, dispositions=self._disposition_table(hit)))
            if hits:
                yield Page(kind, records, [(h.ts, h.id) for h in hits])

    def _associated_contacts(self, kind: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """Engagement id -> contact ids, following per-object association paging."""
        found: dict[str, list[str]] = {}
        pending: list[dict[str, str]] = [{"id": i} for i in dict.fromkeys(ids)]
        while pending:
            chunk, pending = pending[:ASSOCIATIONS_MAX], pending[ASSOCIATIONS_MAX:]
            body = BatchInputPublicFetchAssociationsBatchRequest(inputs=chunk)
            data = self._call("associations.batch_read",
                              lambda hs: hs.crm.associations.v4.batch_api.get_page_with_http_info,
                              from_object_type=kind, to_object_type=CONTACTS,
                              batch_input_public_fetch_associations_batch_request=body)
            for result in data.get("results") or ():
                source = str(result["from"]["id"])
                found.setdefault(source, []).extend(str(t["toObjectId"]) for t in result.get("to") or ())
                more = _next_after(result)  # over 500 associations of one engagement: its own cursor
                if more is not None:
                    pending.append({"id": source, "after": more})
            for error in data.get("errors") or ():  # "no associations" is an answer; anything else is news
                if error.get("subCategory") != NO_ASSOCIATIONS:
                    log.warning("hubspot.association_read_error", engagement_type=kind,
                                category=error.get("category"), message=error.get("message"))
        return found

    def _disposition_table(self, hit: Hit) -> Mapping[str, str]:
        """The default GUIDs; the portal's custom outcomes are read (once) only when an unknown GUID shows up."""
        guid = hit.properties.get("hs_call_disposition")
        if self._dispositions is None and guid and guid not in convert.DISPOSITION_BY_GUID:
            definition = self._call("properties.get", lambda hs: hs.crm.properties.core_api.get_by_name_with_http_info,
                                    object_type="calls", property_name="hs_call_disposition")
            self._dispositions = convert.disposition_table(
                (str(o.get("value")), str(o.get("label"))) for o in definition.get("options") or ())
        return self._dispositions if self._dispositions is not None else convert.DISPOSITION_BY_GUID

    def _pull_events(self, mark: Watermark, window: Window) -> Iterator[Page]:
        """Events between the keyset and the window end. ``occurredAfter`` is strict, so the query starts a
        millisecond early and drops what the keyset already covers."""
        after_ts, after_id = keyset_after(mark, window.start)
        low = after_ts if after_ts is not None else window.start
        cursor: str | None = None
        while True:
            data = self._call("events.list", lambda hs: hs.events.events_api.get_page_with_http_info,
                              object_type="contact", occurred_after=low - ONE_MS if low is not None else None,
                              occurred_before=window.end + ONE_MS, limit=EVENTS_MAX, after=cursor)
            records: list[PulledRecord] = []
            keys: list[tuple[datetime, str]] = []
            for event in data.get("results") or ():
                event_id, event_type = str(event["id"]), str(event.get("eventType"))
                occurred = convert.parse_time(event.get("occurredAt"), f"event {event_id} occurredAt")
                if after_id is not None and after_ts is not None and (occurred, event_id) <= (after_ts, after_id):
                    continue
                keys.append((occurred, event_id))
                record = convert.event_record(event_id, event_type, str(event.get("objectId")), occurred,
                                              event.get("properties") or {})
                if record is None:  # counted, and named once, so an unscored event type is never silent
                    if event_type not in self.skipped_events:
                        log.info("hubspot.event_type_not_scored", event_type=event_type)
                    self.skipped_events[event_type] = self.skipped_events.get(event_type, 0) + 1
                else:
                    records.append(record)
            if keys:
                yield Page("events", records, keys)
            cursor = _next_after(data)
            if cursor is None:
                return

    # ----- reads and writes ------------------------------------------------------------------------
    def read_current(self, targets: Sequence[Target], fields: Sequence[str]) -> Mapping[Target, Mapping[str, Scalar]]:
        """Mapped fields of the given records (100 per call); records that no longer exist are left out."""
        found: dict[Target, Mapping[str, Scalar]] = {}
        for object_type, chunk in _chunks_by_object(targets):
            body = BatchReadInputSimplePublicObjectId(inputs=[{"id": t.record_id} for t in chunk],
                                                      properties=list(fields), properties_with_history=[])
            data = self._call(f"{object_type}.batch_read", lambda hs: hs.crm.objects.batch_api.read_with_http_info,
                              object_type=object_type, batch_read_input_simple_public_object_id=body, archived=False)
            by_id = {t.record_id: t for t in chunk}
            for result in data.get("results") or ():
                target = by_id.get(str(result["id"]))
                if target is not None:
                    found[target] = {f: (result.get("properties") or {}).get(f) for f in fields}
        return found

    def apply(self, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """Batch updates of 100 records, one result per target in first-seen order.

        Backward ``lifecyclestage`` moves (``clear_first``): one batch clearing those fields first, then
        the set, then a read-back; their results say what the record holds. A batch whose answer is lost
        (it may have been committed) is not resent: its records are read back, and each is ok when it
        holds every value sent, a transient failure otherwise. Per-record 207 errors and
        whole-batch failures after retries become results (transient or permanent); only
        :class:`QuotaExhausted` and :class:`AuthError` propagate, since the run must stop (batches
        already sent are then resolved by :meth:`read_current`).
        """
        wanted: dict[Target, dict[str, FieldWrite]] = {}
        for write in writes:
            wanted.setdefault(write.target, {})[write.field] = write
        results: dict[Target, WriteResult] = {}
        for target in wanted:
            if target.system is not System.HUBSPOT:
                results[target] = WriteResult(target, False, "WRONG_SYSTEM", f"not a HubSpot record: {target}")
        clearing = [t for t, ws in wanted.items() if t not in results and any(w.clear_first for w in ws.values())]
        self._update({t: {f: "" for f, w in wanted[t].items() if w.clear_first} for t in clearing}, results)
        cleared = [t for t in clearing if results[t].ok]
        setting = [t for t in wanted if t not in results or results[t].ok]  # a failed clear skips its set
        self._update({t: {f: convert.to_property(w.value) for f, w in wanted[t].items()} for t in setting}, results)
        for target in cleared:
            if not results[target].ok:  # the clear went through, the set did not: say what the record holds
                failed = results[target]
                note = ", ".join(f for f, w in wanted[target].items() if w.clear_first)
                results[target] = WriteResult(target, False, failed.error_code, f"{failed.error} ({note} was "
                                              "cleared first and is now empty)", failed.fields, failed.transient)
        self._confirm([t for t in cleared if results[t].ok], wanted, results)
        return [results[t] for t in wanted]

    def _update(self, properties: Mapping[Target, dict[str, str]], results: dict[Target, WriteResult]) -> None:
        """Batch-update ``properties``; failed records get their result, succeeded ones an ok result."""
        for object_type, chunk in _chunks_by_object(list(properties)):
            inputs = [{"id": t.record_id, "properties": properties[t]} for t in chunk]
            fields = tuple(sorted({f for t in chunk for f in properties[t]}))
            try:
                data = self._call(
                    f"{object_type}.batch_update", lambda hs: hs.crm.objects.batch_api.update_with_http_info,
                    write=True, object_type=object_type,
                    batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(inputs=inputs))
            except ResponseLost as lost:  # it may have been committed: read back, never resend blindly
                self._resolve_lost(chunk, properties, lost, results)
                continue
            except (TransientError, PermanentError) as error:  # quota and auth errors stop the run
                for target in chunk:
                    results[target] = _failed(target, error, fields)
                continue
            done = {str(r["id"]) for r in data.get("results") or ()}
            failures = convert.batch_failures(data.get("errors") or (), [t.record_id for t in chunk])
            for target in chunk:
                failure = failures.get(target.record_id)
                if failure is not None:
                    results[target] = WriteResult(target, False, failure.code, failure.message,
                                                  failure.fields or tuple(properties[target]), failure.transient)
                elif target.record_id in done:
                    results[target] = WriteResult(target, True, fields=tuple(properties[target]))
                else:
                    results[target] = WriteResult(target, False, "UNCONFIRMED", "the batch answer did not mention "
                                                  "this record", tuple(properties[target]), transient=True)

    def _resolve_lost(self, chunk: list[Target], properties: Mapping[Target, dict[str, str]], lost: ResponseLost,
                      results: dict[Target, WriteResult]) -> None:
        """A batch whose answer was lost: one read-back says, per record, whether it took the write (it holds
        every value sent) or not (a transient failure, so the next cycle plans it again)."""
        fields = sorted({f for t in chunk for f in properties[t]})
        try:
            held = self.read_current(chunk, fields)
        except (TransientError, PermanentError) as error:
            for target in chunk:
                results[target] = WriteResult(target, False, "RESPONSE_LOST", f"{lost.message}; the read-back "
                                              f"failed too ({error.message})", tuple(properties[target]), True)
            return
        for target in chunk:
            now = held.get(target)
            if now is not None and all(canonical(now.get(f)) == canonical(v) for f, v in properties[target].items()):
                results[target] = WriteResult(target, True, fields=tuple(properties[target]))
            else:
                results[target] = WriteResult(target, False, "RESPONSE_LOST", f"{lost.message}; the record does "
                                              "not hold it", tuple(properties[target]), transient=True)
        log.warning("hubspot.write_response_lost", records=len(chunk),
                    took=sum(1 for t in chunk if results[t].ok))

    def _confirm(self, targets: list[Target], wanted: Mapping[Target, Mapping[str, FieldWrite]],
                 results: dict[Target, WriteResult]) -> None:
        fields = sorted({f for t in targets for f, w in wanted[t].items() if w.clear_first})
        if not targets:
            return
        held = self.read_current(targets, fields)
        for target in targets:
            for name, write in wanted[target].items():
                now = held.get(target, {}).get(name)
                if write.clear_first and canonical(now) != canonical(convert.to_property(write.value)):
                    results[target] = WriteResult(target, False, "NOT_APPLIED", f"{name} holds {now!r} after "
                                                  f"clear-then-set to {write.value!r}", (name,), transient=True)

    # ----- preflight --------------------------------------------------------------------------------
    def preflight(self, fields: Sequence[tuple[str, str, str, frozenset[str] | None]]) -> list[PreflightProblem]:
        return self._preflight([(where, obj, name, values, True) for where, obj, name, values in fields])

    def problems_for_mappings(self, mappings: FieldMappings, lifecycle: LifecycleRules,
                              contact_status: ContactStatusRules) -> list[PreflightProblem]:
        """Every HubSpot mapping line checked: outbound ones leadsync owns must be writable with every value
        the rules can write; the others (and inbound properties) must exist."""
        checks: list[Check] = []
        for mapping in mappings.outbound_mappings:
            if mapping.system is System.HUBSPOT:
                values = possible_values(mapping, lifecycle, contact_status)
                checks.append((mapping.where, mapping.object, mapping.field,
                               frozenset(values) if values is not None and mapping.owned_by_leadsync else None,
                               mapping.owned_by_leadsync))
        for inbound in mappings.inbound_mappings:
            if inbound.system is System.HUBSPOT:
                checks.append((inbound.where, inbound.object, inbound.field, None, False))
        return self._preflight(checks)

    def _preflight(self, checks: Iterable[Check]) -> list[PreflightProblem]:
        described: dict[str, dict[str, convert.PropertyInfo]] = {}
        problems: list[PreflightProblem] = []
        for where, object_type, name, values, must_write in checks:
            if object_type not in described:
                described[object_type] = self._describe(object_type)
            problem = convert.property_problem(described[object_type].get(name), name, values, must_write=must_write)
            if problem is not None:
                problems.append(PreflightProblem(where, System.HUBSPOT, object_type, name, problem))
        return problems

    def _describe(self, object_type: str) -> dict[str, convert.PropertyInfo]:
        data = self._call("properties.list", lambda hs: hs.crm.properties.core_api.get_all_with_http_info,
                          object_type=object_type, archived=False)
        described: dict[str, convert.PropertyInfo] = {}
        for prop in data.get("results") or ():
            name = str(prop["name"])
            described[name] = convert.PropertyInfo(
                name=name, type=str(prop.get("type")),
                options=frozenset(str(o["value"]) for o in prop.get("options") or ()),
                read_only=bool((prop.get("modificationMetadata") or {}).get("readOnlyValue")))
        return described


def _next_after(data: Mapping[str, Any]) -> str | None:
    after = ((data.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


def _chunks_by_object(targets: Sequence[Target]) -> Iterator[tuple[str, list[Target]]]:
    by_object: dict[str, list[Target]] = {}
    for target in targets:
        by_object.setdefault(target.object, []).append(target)
    for object_type, members in by_object.items():
        for start in range(0, len(members), BATCH_MAX):
            yield object_type, members[start:start + BATCH_MAX]


def _failed(target: Target, error: ConnectorError, fields: tuple[str, ...]) -> WriteResult:
    return WriteResult(target, False, error.error_code or type(error).__name__, error.message,
                       error.fields or fields, transient=isinstance(error, TransientError))
