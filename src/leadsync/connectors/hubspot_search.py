"""Incremental reads through HubSpot's CRM search without ever touching its 10,000-result cap.

The search endpoint pages by offset (``after``) and answers 400 once ``after`` reaches 10,000, takes at
most ONE sort, and does not promise any order among records with equal sort values. So:

* Each query is sorted ascending by the modification stamp (``lastmodifieddate`` on contacts,
  ``hs_lastmodifieddate`` on engagements) and bounded above by the window's end (``LTE end``).
* The lower bound is the keyset ``(ts, id)`` as two ORed filter groups, ``(ts GT t)`` OR
  ``(ts EQ t AND hs_object_id GT id)``, or ``ts GTE start`` when only a window start is known.
* Budget arithmetic: pages are :data:`PAGE_LIMIT` (200) results. A query is paged only while
  ``after + 200 <= 9,800`` (:data:`QUERY_BUDGET`), so its last request asks for results 9,600..9,799
  and no request ever reaches offset 10,000, even when short pages leave ``after`` off a multiple of 200.
  That is 49 full pages, 9,800 results, per query.
* Restart: after the budget, a new query starts at ``ts GTE t_last`` (the last stamp read) and drops
  the ids already read at ``t_last``. Since ties come in no promised order, restarting *inside* the
  stamp (``hs_object_id GT id``) could skip records; restarting *at* it re-reads only that tie group
  (usually one or a few records, so no extra call). If a whole query's results share one stamp (a bulk
  import: a tie flood of 9,800 or more), restarting at it would never progress: that stamp is then
  read on its own, sorted by ``hs_object_id`` (a total order), paged on the id keyset, after which the
  main query resumes at ``ts GT t_last``. The same happens when a page or more of the last stamp was
  already read, since re-reading it in the main query would cost as much and still not be bounded.
  Cost: about one extra page per 49 (a restart) for ordinary data; a flood of F records is read about
  twice (F/200 pages in the main query, F/200 in the id-ordered pass).
* Short pages (fewer results than asked, even none) that still carry ``paging.next.after`` are
  followed; a query that returns nothing and does not move its cursor :data:`MAX_STALLS` times in a
  row is reported as a transient failure rather than looped on for ever.

The runner passed in makes exactly one API call per invocation; everything here is plain logic over
its answers, so it is unit-tested against a deliberately unordered in-memory search.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadsync.connectors.errors import TransientError
from leadsync.connectors.policy import HUBSPOT

PAGE_LIMIT = 200
RESULT_CAP = 10_000
QUERY_BUDGET = 9_800
MAX_STALLS = 10
ID_PROPERTY = "hs_object_id"


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: its id, modification stamp and requested properties."""

    id: str
    ts: datetime
    properties: Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    hits: Sequence[Hit]
    next_after: int | None


# A runner sends one search body (the JSON the API takes) and returns the answer.
Runner = Callable[[dict[str, Any]], SearchAnswer]


def epoch_ms(moment: datetime) -> str:
    """Search filters on date properties take epoch milliseconds as strings (what HubSpot's clients send)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return str(int(aware.timestamp() * 1000))


def _filter(prop: str, operator: str, value: str) -> dict[str, str]:
    return {"propertyName": prop, "operator": operator, "value": value}


def lower_bound_groups(ts_property: str, after_ts: datetime | None, after_id: str | None,
                       *, inclusive: bool = False) -> list[list[dict[str, str]]]:
    """Filter groups (ORed lists of ANDed filters) for everything after a keyset position.

    ``after_id`` given: strictly after ``(after_ts, after_id)``. ``after_id`` None: every record at
    ``after_ts`` or later when ``inclusive``, strictly later otherwise. No position: no bound.
    """
    if after_ts is None:
        return [[]]
    stamp = epoch_ms(after_ts)
    if after_id is not None:
        return [[_filter(ts_property, "GT", stamp)],
                [_filter(ts_property, "EQ", stamp), _filter(ID_PROPERTY, "GT", after_id)]]
    return [[_filter(ts_property, "GTE" if inclusive else "GT", stamp)]]


def search_body(groups: list[list[dict[str, str]]], *, end: datetime, ts_property: str, sort_property: str,
                properties: Sequence[str], after: int, limit: int = PAGE_LIMIT) -> dict[str, Any]:
    """One search request: every group also bounded by the window end, sorted ascending."""
    bounded = [[*group, _filter(ts_property, "LTE", epoch_ms(end))] for group in groups]
    body: dict[str, Any] = {
        "filterGroups": [{"filters": filters} for filters in bounded],
        "sorts": [{"propertyName": sort_property, "direction": "ASCENDING"}],
        "properties": list(properties),
        "limit": limit,
    }
    if after:
        body["after"] = str(after)
    return body


def may_request(after: int, *, limit: int = PAGE_LIMIT, budget: int = QUERY_BUDGET) -> bool:
    """True when a page at offset ``after`` stays inside the query budget (and so below the cap)."""
    return after + limit <= budget


class KeysetSearch:
    """Pages of one object type's search between a keyset position and a window end, each record once.

    ``pages()`` yields the hits of each API page (ids already handed back at the restart stamp are
    dropped, so a page may come out shorter than the API's, or empty when the API page was short).
    ``page_limit`` and ``budget`` exist so tests can exercise restarts on a few dozen records.
    """

    def __init__(self, run: Runner, *, ts_property: str, properties: Sequence[str], end: datetime,
                 after_ts: datetime | None, after_id: str | None, start: datetime | None = None,
                 page_limit: int = PAGE_LIMIT, budget: int = QUERY_BUDGET) -> None:
        if not 0 < page_limit <= budget <= RESULT_CAP:
            raise ValueError(f"need 0 < page_limit <= budget <= {RESULT_CAP}")
        self.run = run
        self.page_limit, self.budget = page_limit, budget
        self.ts_property = ts_property
        self.properties = list(dict.fromkeys([*properties, ts_property]))
        self.end = end
        self.after_ts, self.after_id = after_ts, after_id
        if after_ts is None and start is not None:
            self.after_ts, self.inclusive = start, True
        else:
            self.inclusive = False
        self.requests = 0

    def pages(self) -> Iterator[list[Hit]]:
        groups = lower_bound_groups(self.ts_property, self.after_ts, self.after_id, inclusive=self.inclusive)
        seen_at_last: set[str] = set()
        last_ts: datetime | None = None
        while True:
            first_ts: datetime | None = None
            exhausted = True
            for hits, finished in self._query(groups, self.ts_property):
                fresh = [h for h in hits if not (h.ts == last_ts and h.id in seen_at_last)]
                for hit in hits:
                    first_ts = hit.ts if first_ts is None else first_ts
                    if hit.ts != last_ts:
                        last_ts, seen_at_last = hit.ts, set()
                    seen_at_last.add(hit.id)
                yield fresh
                exhausted = finished
            if exhausted:
                return
            if first_ts is None or last_ts is None:
                raise _spent_without_results(self.budget)
            if first_ts == last_ts or len(seen_at_last) >= self.page_limit:  # a big tie group: read it by id
                yield from self._drain_stamp(last_ts, seen_at_last)
                groups = lower_bound_groups(self.ts_property, last_ts, None, inclusive=False)
                seen_at_last = set()
            else:
                groups = lower_bound_groups(self.ts_property, last_ts, None, inclusive=True)

    def _drain_stamp(self, stamp: datetime, seen: set[str]) -> Iterator[list[Hit]]:
        """Every record at exactly ``stamp``, in id order (total, so the id keyset restarts exactly)."""
        last_id = "0"
        while True:
            groups = [[_filter(self.ts_property, "EQ", epoch_ms(stamp)), _filter(ID_PROPERTY, "GT", last_id)]]
            finished, moved = True, False
            for hits, last_page in self._query(groups, ID_PROPERTY):
                if hits:
                    last_id, moved = max((h.id for h in hits), key=int), True
                finished = last_page
                yield [h for h in hits if h.id not in seen]
            if finished:
                return
            if not moved:
                raise _spent_without_results(self.budget)

    def _query(self, groups: list[list[dict[str, str]]], sort_property: str) -> Iterator[tuple[list[Hit], bool]]:
        """The pages of one query up to the budget; ``finished`` is True on its last page."""
        after, stalls = 0, 0
        while True:
            body = search_body(groups, end=self.end, ts_property=self.ts_property, sort_property=sort_property,
                               properties=self.properties, after=after, limit=self.page_limit)
            answer = self.run(body)
            self.requests += 1
            hits = list(answer.hits)
            if answer.next_after is None:
                yield hits, True
                return
            stalls = stalls + 1 if not hits and answer.next_after <= after else 0
            if stalls >= MAX_STALLS:
                raise TransientError(f"search made no progress in {stalls} pages at after={after}", system=HUBSPOT)
            yield hits, False
            if not may_request(answer.next_after, limit=self.page_limit, budget=self.budget):
                return
            after = answer.next_after


def _spent_without_results(budget: int) -> TransientError:
    """A query whose cursor ran through the whole budget without one result: restarting it would loop."""
    return TransientError(f"search paged through {budget} positions without a result", system=HUBSPOT)
