"""Sorted views of a type's records, shared by queries that order the same way.

A sync pages with keyset queries (``... ORDER BY SystemModstamp, Id LIMIT 200``) again and again;
sorting 100,000 records for each page would make the sandbox the bottleneck. The view is sorted once
per store version (any write makes it stale) and each query bisects into it.
"""

from __future__ import annotations

from typing import Any

from leadsync.sandbox.salesforce.soql_eval import CompiledQuery, Record
from leadsync.sandbox.salesforce.store import OrgStore

MAX_VIEWS = 16


class SortedViews:
    def __init__(self) -> None:
        self._views: dict[tuple[Any, ...], tuple[int, list[Record], list[Any]]] = {}

    def select(self, store: OrgStore, compiled: CompiledQuery, include_deleted: bool) -> list[Record]:
        """The query's result rows; callers hold the emulator lock."""
        type_name = compiled.schema.name
        if compiled.order_key is None or compiled.order_signature is None:
            return compiled.select(store.scan(type_name, include_deleted))
        name = (type_name, include_deleted, compiled.order_signature)
        view = self._views.get(name)
        if view is None or view[0] != store.version:
            rows = store.scan(type_name, include_deleted)
            keys = [compiled.order_key(row) for row in rows]
            order = sorted(range(len(rows)), key=keys.__getitem__)
            view = (store.version, [rows[i] for i in order], [keys[i] for i in order])
            if len(self._views) >= MAX_VIEWS:
                self._views.pop(next(iter(self._views)))
            self._views[name] = view
        return compiled.select_ordered(view[1], view[2])
