"""The theoretical minimum of API calls for one sync cycle, from the org's actual counts.

The minimum a perfect client could spend, given what is in (or what changed in) the org:

* reads: every stream needs at least one call (it cannot know nothing changed without asking), and then
  one call per full page at the API's largest page size. The one exception is HubSpot's archived owners:
  owners are archived, never created archived, so a client that remembers the active owners it saw knows
  that nobody was archived when nobody left the active listing; it needs the archived listing only on
  its first sync or after an active owner vanished (:func:`archived_owners_needed`);
* HubSpot engagements also need one associations batch read per 1,000 engagements (search does not
  return the contact an engagement belongs to);
* writes: one call per batch of records whose values changed, at the API's largest batch size, per
  object (a Salesforce sObject Collections call takes one object type), plus one batch per 100 HubSpot
  records whose ``lifecyclestage`` moves backwards (HubSpot needs it cleared before it is set), and one batch
  read per 100 of them to confirm the stage held (reliability.md #13: clear, then set, then read back).

Pure arithmetic: the bench measures the counts, this module turns them into calls. Row counts are what
the cycle must see: every record for a first full sync; the records changed since the previous cycle
began (our own write-backs included, which no client can filter out server side) for the others.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

# Largest pages and batches the APIs take (Salesforce REST query batchSize; HubSpot CRM v3).
SF_QUERY_PAGE = 2_000
SF_WRITE_BATCH = 200
HS_SEARCH_PAGE = 200
HS_LIST_PAGE = 100
HS_OWNERS_PAGE = 500
HS_EVENTS_PAGE = 1_000
HS_ASSOCIATIONS_BATCH = 1_000
HS_WRITE_BATCH = 100

HS_ENGAGEMENTS = ("calls", "emails", "meetings", "notes", "tasks")

# HubSpot's published limits for a private app (the realistic profile): 190 requests per 10 seconds,
# of which search at most 5 per second.
HS_BURST = 190
HS_BURST_WINDOW_SECONDS = 10.0
HS_SEARCH_PER_SECOND = 5.0


@dataclass(frozen=True)
class SystemMinimum:
    reads: int
    writes: int
    detail: Mapping[str, int] = field(default_factory=dict)  # calls per stream / written object

    @property
    def total(self) -> int:
        return self.reads + self.writes


def pages(rows: int, page_size: int) -> int:
    """Calls to read ``rows`` records at ``page_size`` per call; an empty stream still costs one call."""
    if rows < 0 or page_size <= 0:
        raise ValueError(f"rows must be >= 0 and page_size > 0, got {rows} and {page_size}")
    return max(1, math.ceil(rows / page_size))


def batches(records: int, batch_size: int) -> int:
    """Calls to write ``records`` records at ``batch_size`` per call; nothing to write costs nothing."""
    if records < 0 or batch_size <= 0:
        raise ValueError(f"records must be >= 0 and batch_size > 0, got {records} and {batch_size}")
    return math.ceil(records / batch_size)


def salesforce_minimum(rows: Mapping[str, int], written: Mapping[str, int]) -> SystemMinimum:
    """``rows``: records each stream (sObject) must return; ``written``: records changed per sObject."""
    detail = {f"read {name}": pages(n, SF_QUERY_PAGE) for name, n in rows.items()}
    detail.update({f"write {name}": batches(n, SF_WRITE_BATCH) for name, n in written.items() if n})
    reads = sum(v for k, v in detail.items() if k.startswith("read "))
    return SystemMinimum(reads, sum(detail.values()) - reads, detail)


def archived_owners_needed(active_before: Collection[str] | None, active_now: Collection[str]) -> bool:
    """Whether a client that remembers owners must list HubSpot's archived owners this cycle: on its first
    sync (``active_before`` is None: it knows nobody yet) or when an owner it saw active has left the
    active listing since (archived, and the archived listing says so)."""
    return active_before is None or not set(active_before) <= set(active_now)


def hubspot_minimum(rows: Mapping[str, int], written: int, *, cleared: int = 0,
                    archived_owners: bool = True) -> SystemMinimum:
    """``rows``: records each stream must return (``owners`` counts active and archived listings as
    ``owners`` and ``owners_archived``); ``written``: contacts changed; ``cleared``: those among them whose
    lifecycle stage moves backwards (one more batch each 100); ``archived_owners``: whether the archived
    owners must be listed at all this cycle (:func:`archived_owners_needed`)."""
    detail: dict[str, int] = {}
    for name, n in rows.items():
        if name == "owners_archived" and not archived_owners:
            continue
        if name in ("owners", "owners_archived"):
            detail[f"read {name}"] = pages(n, HS_OWNERS_PAGE)
        elif name == "contacts_archived":
            detail[f"read {name}"] = pages(n, HS_LIST_PAGE)
        elif name == "events":
            detail[f"read {name}"] = pages(n, HS_EVENTS_PAGE)
        else:
            detail[f"read {name}"] = pages(n, HS_SEARCH_PAGE)
        if name in HS_ENGAGEMENTS and n:
            detail[f"read {name} associations"] = batches(n, HS_ASSOCIATIONS_BATCH)
    if cleared:
        detail["read back cleared contacts"] = batches(cleared, HS_WRITE_BATCH)  # batch read takes 100 too
    reads = sum(detail.values())
    detail["write contacts"] = batches(written, HS_WRITE_BATCH) + batches(cleared, HS_WRITE_BATCH)
    return SystemMinimum(reads, detail["write contacts"], detail)


def calls_ratio(calls: int, minimum: int) -> float:
    """API calls spent over the minimum (1.0 is perfect); a minimum of zero with zero calls is 1.0."""
    if calls < 0 or minimum < 0:
        raise ValueError(f"calls and minimum must be >= 0, got {calls} and {minimum}")
    if minimum == 0:
        return 1.0 if calls == 0 else math.inf
    return calls / minimum


def hubspot_floor_seconds(calls: int, search_calls: int, *, burst: int = HS_BURST,
                          window_seconds: float = HS_BURST_WINDOW_SECONDS,
                          search_per_second: float = HS_SEARCH_PER_SECOND) -> float:
    """The least wall time HubSpot's limits allow for ``calls`` requests of which ``search_calls`` are
    searches: the slower of the burst budget and the search budget. The first window's burst is free,
    so a cycle that fits in one window has no floor beyond the search pacing."""
    if search_calls > calls:
        raise ValueError(f"search calls ({search_calls}) cannot exceed all calls ({calls})")
    burst_floor = max(0, calls - burst) / burst * window_seconds
    search_floor = max(0, search_calls - search_per_second) / search_per_second
    return max(burst_floor, search_floor)


def salesforce_floor_seconds(calls: int, daily_allocation: int) -> float:
    """Salesforce meters calls per rolling 24 hours, not per second: within the allocation there is no
    floor; past it the rest must wait for the next day."""
    if calls <= daily_allocation:
        return 0.0
    return 86_400.0 * ((calls - 1) // daily_allocation)
