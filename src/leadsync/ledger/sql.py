"""Small SQL helpers the repositories share: the dialect's upsert-capable INSERT and JSON encoding."""

from __future__ import annotations

import dataclasses
import decimal
import enum
import json
from collections.abc import Mapping, Set
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert(connection: sa.Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ``on_conflict_do_nothing`` / ``on_conflict_do_update`` for this connection's dialect."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _json_default(value: Any) -> Any:
    # Domain values arrive as read-only mappings, tuples, enums and datetimes; store them as plain JSON.
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Set):
        return sorted(value, key=str)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot store a {type(value).__name__} in a ledger JSON column")


# One encoder for every call: json.dumps with options would build a new encoder per value (bulk inserts).
_ENCODER = json.JSONEncoder(default=_json_default, ensure_ascii=False, separators=(",", ":"))


def json_dumps(value: Any) -> str:
    """The engine's JSON serializer: the C encoder, falling back to ``_json_default`` for domain types."""
    return _ENCODER.encode(value)


class Tx:
    """What every repository of one unit of work shares: its connection (inside one transaction) and the
    fencing epochs its writes carried, which are all checked against the current leader before commit."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self.epochs: set[int] = set()

    def fence(self, epoch: int) -> None:
        self.epochs.add(epoch)
