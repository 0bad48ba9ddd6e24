"""Query result paging: locators that snapshot a result set and hand it out page by page.

The first page computes, filters and sorts the whole result once; ``nextRecordsUrl`` then slices the
cached list, so following a cursor through 100,000 records costs one scan, not one per page. Records
are immutable dicts in the store (writes replace them), so the cached list is a true snapshot.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from leadsync.sandbox.salesforce.soql_eval import CompiledQuery, Record
from leadsync.sandbox.salesforce.values import id_checksum

DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_BATCH = 2000
MAX_OPEN_LOCATORS = 200


@dataclass
class Cursor:
    compiled: CompiledQuery
    rows: list[Record]
    batch: int
    endpoint: str  # "query" or "queryAll", echoed in nextRecordsUrl


def batch_size(header: str | None) -> int:
    """``Sforce-Query-Options: batchSize=N``, held to the documented 200..2000 range."""
    if not header:
        return DEFAULT_BATCH
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip() == "batchSize" and value.strip().isdigit():
            return max(MIN_BATCH, min(MAX_BATCH, int(value)))
    return DEFAULT_BATCH


class LocatorCache:
    """Open query cursors, oldest dropped first (the real org also caps open cursors per user)."""

    def __init__(self) -> None:
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, cursor: Cursor) -> str:
        body = "01g" + secrets.token_hex(6).upper()
        locator = body + id_checksum(body)
        with self._lock:
            self._cursors[locator] = cursor
            while len(self._cursors) > MAX_OPEN_LOCATORS:
                self._cursors.popitem(last=False)
        return locator

    def get(self, locator: str) -> Cursor | None:
        with self._lock:
            return self._cursors.get(locator)

    def close(self, locator: str) -> None:
        with self._lock:
            self._cursors.pop(locator, None)


def page(cursor: Cursor, locator: str | None, start: int, size: int, version: str) -> dict[str, Any]:
    """One response body: records ``start..start+size`` and, when more remain, ``nextRecordsUrl``."""
    rows = cursor.rows[start:start + size]
    end = start + len(rows)
    body: dict[str, Any] = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows)}
    if not body["done"] and locator is not None:
        body["nextRecordsUrl"] = f"/services/data/v{version}/{cursor.endpoint}/{locator}-{end}"
    body["records"] = cursor.compiled.render_page(rows, version)
    return body
