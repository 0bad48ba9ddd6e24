"""In-memory state of one HubSpot portal: objects per type, associations and events.

Values are kept as HubSpot returns them (strings); create/modify times as epoch milliseconds. Each
store keeps two orderings so 100,000 contacts stay fast: ids ascending (list paging) and
``(lastmodified, id)`` ascending for live records (incremental search windows and the index lag).
Callers hold the emulator's lock; nothing here locks.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from leadsync.sandbox.hubspot.properties import PropertyDef
from leadsync.sandbox.hubspot.wire import format_ms

# Association type ids HubSpot defines between contacts and engagements (both directions).
ASSOCIATION_TYPE_IDS = {
    ("contacts", "calls"): 193, ("calls", "contacts"): 194,
    ("contacts", "emails"): 197, ("emails", "contacts"): 198,
    ("contacts", "meetings"): 199, ("meetings", "contacts"): 200,
    ("contacts", "notes"): 201, ("notes", "contacts"): 202,
    ("contacts", "tasks"): 203, ("tasks", "contacts"): 204,
}


@dataclass(slots=True)
class Record:
    id: str
    num: int
    props: dict[str, str]
    created_ms: int
    modified_ms: int
    archived: bool = False
    archived_ms: int | None = None
    # (created_ms, modified_ms, created text, modified text): rendering stamps dominates search pages.
    _stamps: tuple[int, int, str, str] | None = None

    def stamps(self) -> tuple[str, str]:
        cached = self._stamps
        if cached is None or cached[0] != self.created_ms or cached[1] != self.modified_ms:
            cached = (self.created_ms, self.modified_ms, format_ms(self.created_ms), format_ms(self.modified_ms))
            self._stamps = cached
        return cached[2], cached[3]

    def value(self, name: str) -> str | None:
        if name == "hs_object_id":
            return self.id
        if name in ("createdate", "hs_createdate"):
            return self.stamps()[0]
        if name in ("lastmodifieddate", "hs_lastmodifieddate"):
            return self.stamps()[1]
        return self.props.get(name)

    def to_json(self, names: list[str] | tuple[str, ...]) -> dict[str, Any]:
        created, modified = self.stamps()
        body: dict[str, Any] = {
            "id": self.id, "properties": {name: self.value(name) for name in names},
            "createdAt": created, "updatedAt": modified, "archived": self.archived,
        }
        if self.archived_ms is not None:
            body["archivedAt"] = format_ms(self.archived_ms)
        return body


@dataclass
class ObjectStore:
    object_type: str
    definitions: dict[str, PropertyDef]
    records: dict[str, Record] = field(default_factory=dict)
    ids_sorted: list[int] = field(default_factory=list)
    by_modified: list[tuple[int, int]] = field(default_factory=list)  # live records only
    email_index: dict[str, str] = field(default_factory=dict)  # contacts: lower-cased email -> id
    next_num: int = 1
    version: int = 0  # bumped on every change; search caches key on it

    def new_id(self) -> str:
        num = self.next_num
        self.next_num += 1
        return str(num)

    def add(self, record: Record) -> None:
        if record.id in self.records:
            raise ValueError(f"{self.object_type} {record.id} already exists")
        self.records[record.id] = record
        bisect.insort(self.ids_sorted, record.num)
        self.next_num = max(self.next_num, record.num + 1)
        if not record.archived:
            bisect.insort(self.by_modified, (record.modified_ms, record.num))
            self._index_email(record, None)
        self.version += 1

    def live(self, record_id: str) -> Record | None:
        record = self.records.get(record_id)
        return record if record is not None and not record.archived else None

    def by_email(self, email: str) -> Record | None:
        record_id = self.email_index.get(email.strip().lower())
        return self.records.get(record_id) if record_id else None

    def apply(self, record: Record, changes: dict[str, str], now_ms: int) -> bool:
        """Set ``changes``; bumps the modify time only when a value really changed. True if changed."""
        changed = {k: v for k, v in changes.items() if record.props.get(k, "") != v}
        if not changed:
            return False
        old_email = record.props.get("email")
        for name, value in changed.items():
            if value == "":
                record.props.pop(name, None)
            else:
                record.props[name] = value
        self._index_email(record, old_email)
        self.touch(record, now_ms)
        return True

    def touch(self, record: Record, now_ms: int) -> None:
        if not record.archived:
            self._unindex_modified(record)
            # Follow the server clock even when a skew test moved it back: the stamp is what HubSpot
            # would write, and connectors must cope with it.
            record.modified_ms = now_ms
            bisect.insort(self.by_modified, (record.modified_ms, record.num))
        self.version += 1

    def archive(self, record: Record, now_ms: int) -> None:
        """Archive without touching lastmodifieddate (as HubSpot does)."""
        self._unindex_modified(record)
        record.archived = True
        record.archived_ms = now_ms
        email = record.props.get("email")
        if email and self.email_index.get(email.lower()) == record.id:
            del self.email_index[email.lower()]
        self.version += 1

    def remove(self, record: Record) -> None:
        """Drop a record entirely (a merged-away contact)."""
        if not record.archived:
            self.archive(record, record.modified_ms)
        del self.records[record.id]
        index = bisect.bisect_left(self.ids_sorted, record.num)
        del self.ids_sorted[index]
        self.version += 1

    def page_by_id(self, after: int, limit: int, archived: bool) -> tuple[list[Record], int | None]:
        """Records with id >= ``after`` in id order, and the cursor of the next page (None at the end)."""
        start = bisect.bisect_left(self.ids_sorted, after)
        found: list[Record] = []
        for position in range(start, len(self.ids_sorted)):
            num = self.ids_sorted[position]
            record = self.records[str(num)]
            if record.archived != archived:
                continue
            if len(found) == limit:
                return found, num
            found.append(record)
        return found, None

    def _unindex_modified(self, record: Record) -> None:
        key = (record.modified_ms, record.num)
        index = bisect.bisect_left(self.by_modified, key)
        if index < len(self.by_modified) and self.by_modified[index] == key:
            del self.by_modified[index]

    def _index_email(self, record: Record, old_email: str | None) -> None:
        if self.object_type != "contacts":
            return
        if old_email and self.email_index.get(old_email.lower()) == record.id:
            del self.email_index[old_email.lower()]
        email = record.props.get("email")
        if email and not record.archived:
            self.email_index[email.lower()] = record.id


@dataclass
class Associations:
    """Undirected links stored in both directions: (from_type, to_type) -> from_id -> ordered to_ids."""

    links: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=lambda: defaultdict(dict))

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        pairs = ((from_type, from_id, to_type, to_id), (to_type, to_id, from_type, from_id))
        for a_type, a_id, b_type, b_id in pairs:
            targets = self.links[(a_type, b_type)].setdefault(a_id, [])
            if b_id not in targets:
                targets.append(b_id)

    def targets(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        return list(self.links.get((from_type, to_type), {}).get(from_id, []))

    def move(self, object_type: str, old_id: str, new_id: str) -> None:
        """Re-point every link of ``old_id`` to ``new_id`` (merges)."""
        for (a_type, b_type), table in list(self.links.items()):
            if a_type != object_type or old_id not in table:
                continue
            for other in table.pop(old_id):
                back = self.links[(b_type, a_type)].get(other, [])
                if old_id in back:
                    back.remove(old_id)
                self.link(object_type, new_id, b_type, other)


@dataclass(slots=True)
class Event:
    id: str
    object_type: str
    object_id: str
    event_type: str
    occurred_ms: int
    properties: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"objectType": self.object_type, "objectId": self.object_id, "eventType": self.event_type,
                "occurredAt": format_ms(self.occurred_ms), "id": self.id, "properties": self.properties}


@dataclass
class EventLog:
    by_object: dict[tuple[str, str], list[Event]] = field(default_factory=lambda: defaultdict(list))
    count: int = 0
    # Every event of an object type in time order, built on first use and dropped by any change: a listing
    # without an objectId pages through it instead of sorting half a million events on every call.
    _ordered: dict[str, list[Event]] = field(default_factory=dict)

    def add(self, event: Event) -> None:
        events = self.by_object[(event.object_type, event.object_id)]
        bisect.insort(events, event, key=lambda e: (e.occurred_ms, e.id))
        self.count += 1
        self._ordered.pop(event.object_type, None)

    def ordered(self, object_type: str) -> list[Event]:
        """Every event of ``object_type``, oldest first (ties by id); do not modify the list."""
        found = self._ordered.get(object_type)
        if found is None:
            found = sorted((e for (t, _), events in self.by_object.items() if t == object_type for e in events),
                           key=lambda e: (e.occurred_ms, e.id))
            self._ordered[object_type] = found
        return found

    def move(self, object_type: str, old_id: str, new_id: str) -> None:
        self._ordered.pop(object_type, None)
        for event in self.by_object.pop((object_type, old_id), []):
            event.object_id = new_id
            self.add(event)
            self.count -= 1
