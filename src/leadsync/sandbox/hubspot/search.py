"""The CRM search endpoint's query language, compiled to closures and run against an ObjectStore.

Fidelity choices (documented because the connector depends on them):
- at most 5 filter groups, 10 filters per group, 25 filters in total; groups are ORed, filters ANDed;
- at most one sort (HubSpot accepts one sorting rule per search); ties, and searches without a sort,
  are ordered by ``hs_object_id`` ascending; missing values sort last;
- string comparisons are case-insensitive; ``NEQ``/``NOT_IN`` match records without the property;
- date properties compare as epoch milliseconds, given as epoch-ms strings or ISO strings;
- ``after`` is an offset; reaching 10,000 (``after >= 10000``) is a 400, as on the real API.
Matching record lists are cached per (query, store version), so paging through one query is cheap.
"""

from __future__ import annotations

import bisect
import fnmatch
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leadsync.sandbox.hubspot.properties import PropertyDef
from leadsync.sandbox.hubspot.store import ObjectStore, Record
from leadsync.sandbox.hubspot.wire import parse_time

MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 10, 25
MAX_LIMIT, RESULT_CAP = 200, 10_000
_MODIFIED = ("lastmodifieddate", "hs_lastmodifieddate")
_TEXT_SEARCHED = ("firstname", "lastname", "email", "company", "phone")
_TOKEN = re.compile(r"[^\w@.*-]+")

Predicate = Callable[[Record], bool]
Getter = Callable[[Record], Any]


class SearchError(ValueError):
    """A 400 VALIDATION_ERROR with this message."""


@dataclass(frozen=True)
class SearchSpec:
    key: str  # canonical query without paging, the cache key
    predicate: Predicate
    ranges: list[tuple[int, int]] | None  # lastmodifieddate window per group, when every group has one
    sort_getter: Getter | None
    descending: bool
    properties: list[str]
    limit: int
    after: int


def _getter(name: str, definition: PropertyDef) -> tuple[Getter, Callable[[Any], Any]]:
    """Typed value of a property on a record, and the converter for filter values of that type."""
    if name == "hs_object_id":
        return (lambda r: r.num), lambda v: int(str(v))
    if name in ("createdate", "hs_createdate"):
        return (lambda r: r.created_ms), parse_time
    if name in _MODIFIED:
        return (lambda r: r.modified_ms), parse_time
    if definition.type == "number":
        def number(r: Record) -> float | None:
            raw = r.props.get(name)
            try:
                return float(raw) if raw is not None else None
            except ValueError:
                return None
        return number, lambda v: float(str(v))
    if definition.type in ("datetime", "date"):
        return (lambda r: parse_time(r.props[name]) if name in r.props else None), parse_time
    return (lambda r: r.props[name].lower() if name in r.props else None), lambda v: str(v).lower()


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.split(text.lower()) if t]


def _compile_filter(item: Any, definitions: dict[str, PropertyDef]) -> tuple[Predicate, tuple[int, int] | None]:
    if not isinstance(item, dict) or "propertyName" not in item or "operator" not in item:
        raise SearchError(f"each filter needs propertyName and operator, got {item!r}")
    name, op = str(item["propertyName"]), str(item["operator"])
    definition = definitions.get(name)
    if definition is None:
        raise SearchError(f"Property \"{name}\" does not exist")
    get, convert = _getter(name, definition)
    try:
        value = convert(item["value"]) if "value" in item else None
        high = convert(item["highValue"]) if "highValue" in item else None
        values = {convert(v) for v in item.get("values", [])}
    except (ValueError, TypeError) as exc:
        raise SearchError(f"invalid value for {name} {op}: {exc}") from exc
    needs_value = op in ("EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN")
    if needs_value and value is None:
        raise SearchError(f"operator {op} on {name} needs a value")
    if op == "BETWEEN" and high is None:
        raise SearchError(f"operator BETWEEN on {name} needs a highValue")
    if op in ("IN", "NOT_IN") and not values:
        raise SearchError(f"operator {op} on {name} needs values")
    window = _window(name, op, value, high)

    def defined(pred: Callable[[Any], bool]) -> Predicate:
        return lambda r: (v := get(r)) is not None and pred(v)

    predicates: dict[str, Predicate] = {
        "EQ": defined(lambda v: v == value),
        "NEQ": lambda r: get(r) != value,
        "LT": defined(lambda v: v < value),
        "LTE": defined(lambda v: v <= value),
        "GT": defined(lambda v: v > value),
        "GTE": defined(lambda v: v >= value),
        "BETWEEN": defined(lambda v: value <= v <= high),
        "IN": defined(lambda v: v in values),
        "NOT_IN": lambda r: get(r) not in values,
        "HAS_PROPERTY": lambda r: get(r) is not None,
        "NOT_HAS_PROPERTY": lambda r: get(r) is None,
    }
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = str(value).lower()
        contains = defined(lambda v: any(fnmatch.fnmatchcase(t, pattern) for t in _tokens(str(v))))
        return (contains if op == "CONTAINS_TOKEN" else lambda r: not contains(r)), None
    if op not in predicates:
        raise SearchError(f"Unknown operator {op}")
    return predicates[op], window


def _window(name: str, op: str, value: Any, high: Any) -> tuple[int, int] | None:
    """The lastmodifieddate range a filter implies, to pick candidates from the sorted index."""
    if name not in _MODIFIED:
        return None
    bounds = {"EQ": (value, value), "GT": (value + 1, None), "GTE": (value, None), "LT": (None, value - 1),
              "LTE": (None, value), "BETWEEN": (value, high)}
    if op not in bounds:
        return None
    low, top = bounds[op]
    return (low if low is not None else -(2**62), top if top is not None else 2**62)


def _compile_group(group: Any, definitions: dict[str, PropertyDef]) -> tuple[Predicate, tuple[int, int] | None]:
    filters = group.get("filters", []) if isinstance(group, dict) else None
    if not isinstance(filters, list):
        raise SearchError("each filterGroup needs a filters list")
    if len(filters) > MAX_FILTERS_PER_GROUP:
        raise SearchError(f"too many filters in a filterGroup ({len(filters)}); the maximum is {MAX_FILTERS_PER_GROUP}")
    compiled = [_compile_filter(f, definitions) for f in filters]
    predicates = [p for p, _ in compiled]
    window: tuple[int, int] | None = None
    for _, w in compiled:
        if w is not None:
            window = w if window is None else (max(window[0], w[0]), min(window[1], w[1]))
    return (lambda r: all(p(r) for p in predicates)), window


def parse_search(body: Any, definitions: dict[str, PropertyDef], default_properties: tuple[str, ...]) -> SearchSpec:
    if not isinstance(body, dict):
        raise SearchError("the search body must be a JSON object")
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list) or not all(isinstance(g, dict) and isinstance(g.get("filters", []), list)
                                               for g in groups):
        raise SearchError("filterGroups must be a list of {\"filters\": [...]} objects")
    if len(groups) > MAX_GROUPS:
        raise SearchError(f"too many filterGroups ({len(groups)}); the maximum is {MAX_GROUPS}")
    total = sum(len(g.get("filters", [])) for g in groups)
    if total > MAX_FILTERS:
        raise SearchError(f"too many filters ({total}); the maximum is {MAX_FILTERS} across all filterGroups")
    compiled = [_compile_group(g, definitions) for g in groups]
    text = str(body.get("query") or "").strip().lower()
    group_predicates = [p for p, _ in compiled]

    def predicate(record: Record) -> bool:
        if group_predicates and not any(p(record) for p in group_predicates):
            return False
        return not text or any(t.startswith(text) for n in _TEXT_SEARCHED for t in _tokens(record.props.get(n, "")))

    windows = [w for _, w in compiled if w is not None]
    ranges = windows if windows and len(windows) == len(compiled) else None
    sorts = body.get("sorts") or []
    if not isinstance(sorts, list):
        raise SearchError("sorts must be a list")
    if len(sorts) > 1:
        raise SearchError("only one sort is supported per search")
    sort_getter, descending = None, False
    if sorts:
        sort = sorts[0] if isinstance(sorts[0], dict) else {"propertyName": str(sorts[0]).lstrip("-"),
                                                             "direction": "DESCENDING" if str(sorts[0]).startswith("-")
                                                             else "ASCENDING"}
        name = str(sort.get("propertyName"))
        if name not in definitions:
            raise SearchError(f"Property \"{name}\" does not exist")
        sort_getter = _getter(name, definitions[name])[0]
        descending = str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
    limit, after = _int(body.get("limit", 10), "limit"), _int(body.get("after") or 0, "after")
    if not 0 < limit <= MAX_LIMIT:
        raise SearchError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    properties = [str(p) for p in body.get("properties") or default_properties]
    key_fields = {k: body.get(k) for k in ("filterGroups", "sorts", "query")}
    return SearchSpec(key=json.dumps(key_fields, sort_keys=True), predicate=predicate,
                      ranges=ranges,
                      sort_getter=sort_getter, descending=descending, properties=properties, limit=limit,
                      after=after)


def _int(value: Any, name: str) -> int:
    try:
        return int(str(value))
    except ValueError as exc:
        raise SearchError(f"{name} must be an integer, got {value!r}") from exc


class SearchEngine:
    """Runs specs against one store, caching the ordered matches of recent queries."""

    def __init__(self, store: ObjectStore, cache_size: int = 32) -> None:
        self.store = store
        self._cache: OrderedDict[tuple[str, int, int], list[Record]] = OrderedDict()
        self._cache_size = cache_size

    def matches(self, spec: SearchSpec, visible_until_ms: int) -> list[Record]:
        """Live records matching ``spec`` in result order, hiding those modified after ``visible_until_ms``."""
        by_modified = self.store.by_modified
        hidden_from = bisect.bisect_right(by_modified, (visible_until_ms, 2**62))
        key = (spec.key, self.store.version, len(by_modified) - hidden_from)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        hidden = {num for _, num in by_modified[hidden_from:]}
        found = [r for r in self._candidates(spec) if r.num not in hidden and spec.predicate(r)]
        self._order(found, spec)
        self._cache[key] = found
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return found

    def _candidates(self, spec: SearchSpec) -> list[Record]:
        records, index = self.store.records, self.store.by_modified
        if spec.ranges is None:
            return [r for r in records.values() if not r.archived]
        nums: set[int] = set()
        for low, high in spec.ranges:
            start = bisect.bisect_left(index, (low, -1))
            stop = bisect.bisect_right(index, (high, 2**62))
            nums.update(num for _, num in index[start:stop])
        return [records[str(num)] for num in nums]

    @staticmethod
    def _order(found: list[Record], spec: SearchSpec) -> None:
        found.sort(key=lambda r: r.num)
        getter = spec.sort_getter
        if getter is None:
            return
        present = [r for r in found if getter(r) is not None]
        missing = [r for r in found if getter(r) is None]
        present.sort(key=getter, reverse=spec.descending)  # stable: ties keep id ascending
        found[:] = present + missing
