"""HubSpot wire details shared by the emulator's modules: timestamps and error bodies.

HubSpot renders every timestamp as ISO 8601 in UTC with millisecond precision and a ``Z``
(``2024-09-12T11:36:05.267Z``); search filters on date properties take epoch milliseconds as strings
(what the official clients send) or ISO strings. Internally the emulator keeps epoch milliseconds.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def format_ms(ms: int) -> str:
    # time.gmtime is several times cheaper than datetime here; search pages render thousands of stamps.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def parse_time(value: Any) -> int:
    """Epoch milliseconds from an epoch-ms number/string, an ISO date-time or a date; ValueError if neither."""
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if len(text) == 10:
        text += "T00:00:00Z"
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_ms(moment)


def correlation_id() -> str:
    return str(uuid.uuid4())


def error_body(message: str, category: str, **extra: Any) -> dict[str, Any]:
    """HubSpot's single-error shape (``Error`` in the published specs)."""
    return {"status": "error", "message": message, "correlationId": correlation_id(), "category": category, **extra}


def batch_error(category: str, message: str, ids: list[str], details: list[dict[str, Any]] | None = None,
                status: str = "error") -> dict[str, Any]:
    """One entry of a 207's ``errors`` (``StandardError``: every key below is required by the clients)."""
    return {"status": status, "category": category, "message": message, "context": {"ids": ids},
            "errors": details or [], "links": {}}
