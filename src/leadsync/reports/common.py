"""What every report builder shares: the window it covers and how its parameters are shown."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

GROUPINGS = ("owner", "team", "source")
DEFAULT_DAYS = 90  # a quarter: what leaders review when no window is given


@dataclass(frozen=True, slots=True)
class Window:
    """``since <= at < until``, measured as of ``now`` (``until`` defaults to ``now``)."""

    now: datetime
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("now", "since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"report {name} {value.isoformat()} has no time zone")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(f"--since {self.since.isoformat()} is not before --until {self.until.isoformat()}")

    @classmethod
    def default(cls, now: datetime, since: datetime | None = None, until: datetime | None = None,
                days: int = DEFAULT_DAYS) -> Window:
        """The last ``days`` days up to ``until`` (or now) when no start is given."""
        end = until or now
        return cls(now, since if since is not None else end - timedelta(days=days), end)

    @property
    def end(self) -> datetime:
        return self.until or self.now

    def params(self) -> dict[str, str]:
        return {
            "since": self.since.isoformat() if self.since else "(beginning)",
            "until": self.end.isoformat(),
            "as of": self.now.isoformat(),
        }


def owner_label(owner_id: str | None, owners: Mapping[str, str]) -> str | None:
    """How a report names a CRM owner: their email when the ledger knows it (``owners``: id -> email, see
    :func:`leadsync.reports.queries.owner_emails`) or when the id is one already, else the raw id."""
    if owner_id is None or "@" in owner_id:
        return owner_id
    return owners.get(owner_id, owner_id)
