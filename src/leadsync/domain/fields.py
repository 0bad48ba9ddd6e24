"""Field mappings: which leadsync value goes to which CRM field, and which CRM field fills which person field.

Outbound, each mapping names one leadsync value (``score``, ``lifecycle_status`` ...), the field it goes
to on one object of one system, who owns the field, and for statuses (and optionally grades) a value map
from leadsync's names to the field's options. Ownership decides writes: a field owned by ``leadsync``
is written by leadsync; a field owned by ``salesforce`` or ``hubspot`` has that system as the source of
truth and leadsync only reads it.

Every mapping keeps ``where`` ("fields.toml:23") so the online preflight can name the line an admin must
fix when the org's describe disagrees with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any

from leadsync.domain.contact_status import ContactStatusRules
from leadsync.domain.grades import GRADES
from leadsync.domain.lifecycle import LifecycleRules
from leadsync.domain.model import System

# The values leadsync can write, and what kind of value each is (for preflight type checks).
LEADSYNC_VALUES: Mapping[str, str] = {
    "score": "number",
    "grade": "text",
    "lifecycle_status": "enumeration",
    "contact_status": "enumeration",
    "lifecycle_reason": "text",
    "mql_at": "datetime",
    "sla_due_at": "datetime",
    "sla_breached": "boolean",
    "owner": "reference",
}
STATUS_VALUES: frozenset[str] = frozenset({"lifecycle_status", "contact_status"})  # need a full value map
MAPPABLE_VALUES: frozenset[str] = STATUS_VALUES | {"grade"}  # may have a value map
OWNERS: tuple[str, ...] = ("leadsync", "salesforce", "hubspot")
OBJECTS: Mapping[System, tuple[str, ...]] = {
    System.SALESFORCE: ("Lead", "Contact"),
    System.HUBSPOT: ("contacts",),
}


class UnmappedValue(LookupError):
    """A value that a mapping's value map has no entry for (preflight and cross-checks prevent this)."""


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """One leadsync value -> one field on one object of one system."""

    system: System
    object: str
    field: str
    value: str
    owner: str
    values: Mapping[str, str] | None
    where: str
    path: tuple[str | int, ...] = dataclass_field(default=(), compare=False)  # key path in the rule file

    @property
    def owned_by_leadsync(self) -> bool:
        return self.owner == "leadsync"


@dataclass(frozen=True, slots=True)
class InboundMapping:
    """One CRM field -> one person field (a canonical one, or a custom one kept in ``Person.extra``)."""

    system: System
    object: str
    field: str
    person_field: str
    custom: bool
    where: str


@dataclass(frozen=True, slots=True)
class FieldMappings:
    outbound_mappings: tuple[FieldMapping, ...]
    inbound_mappings: tuple[InboundMapping, ...]
    version: str

    def outbound(self, system: System, object: str) -> tuple[FieldMapping, ...]:
        """Every outbound mapping for ``object`` in ``system`` (check ``owned_by_leadsync`` before writing)."""
        return tuple(m for m in self.outbound_mappings if m.system == system and m.object == object)

    def inbound(self, system: System, object: str) -> tuple[InboundMapping, ...]:
        return tuple(m for m in self.inbound_mappings if m.system == system and m.object == object)

    def for_value(self, value: str) -> tuple[FieldMapping, ...]:
        return tuple(m for m in self.outbound_mappings if m.value == value)


def value_for(mapping: FieldMapping, leadsync_value: Any) -> Any:
    """What to write into ``mapping.field`` for ``leadsync_value``: through the value map when there is one.

    ``None`` stays ``None`` (clear the field). Raises :class:`UnmappedValue` naming the mapping's line.
    Date-times are written in whole seconds: Salesforce keeps no more, so a finer value would never read
    back equal and would look changed (or overridden) on every cycle.
    """
    if isinstance(leadsync_value, datetime):
        return leadsync_value.replace(microsecond=0)
    if mapping.values is None or leadsync_value is None:
        return leadsync_value
    try:
        return mapping.values[str(leadsync_value)]
    except KeyError:
        raise UnmappedValue(f"{mapping.where}: {mapping.system.value} {mapping.object}.{mapping.field} has no value "
                            f"for {mapping.value} {leadsync_value!r}") from None


def possible_values(mapping: FieldMapping, lifecycle: LifecycleRules,
                    contact_status: ContactStatusRules) -> tuple[str, ...] | None:
    """Every value the rules can write into ``mapping.field``, or None when it is not an enumeration
    (numbers, free text, dates, owner ids). The preflight checks these against picklist options."""
    if mapping.value == "lifecycle_status":
        raw: tuple[str, ...] = tuple(s.name for s in lifecycle.statuses)
    elif mapping.value == "contact_status":
        raw = contact_status.statuses
    elif mapping.value == "grade":
        raw = GRADES
    elif mapping.value == "sla_breached":
        return ("true", "false")
    else:
        return None
    written = [value_for(mapping, name) for name in raw]
    return tuple(dict.fromkeys(written))
