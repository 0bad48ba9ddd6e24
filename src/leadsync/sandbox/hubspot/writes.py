"""Validation of property writes, as HubSpot applies it to create/update/upsert inputs.

Every value is checked against the property's definition: unknown properties, read-only values,
enumeration options (``INVALID_OPTION``), numbers, dates and emails. Values are normalised to the
strings HubSpot stores. The ``lifecyclestage`` backward-move rule lives here too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from leadsync.sandbox.hubspot.properties import LIFECYCLE_STAGES, PropertyDef
from leadsync.sandbox.hubspot.wire import format_ms, parse_time

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
STAGE_ORDER = {value: rank for rank, (value, _) in enumerate(LIFECYCLE_STAGES)}


@dataclass(frozen=True)
class PropertyError:
    """One invalid property value, in the words HubSpot uses (``error`` is its code)."""

    name: str
    error: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"isValid": False, "message": self.message, "error": self.error, "name": self.name,
                "localizedErrorMessage": self.message}


def errors_message(errors: list[PropertyError]) -> str:
    """HubSpot embeds the per-property verdicts as JSON inside the message text."""
    return "Property values were not valid: " + json.dumps([e.to_json() for e in errors], separators=(",", ":"))


def error_details(errors: list[PropertyError]) -> list[dict[str, Any]]:
    return [{"message": e.message, "code": e.error, "context": {"propertyName": [e.name]}} for e in errors]


def _as_text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def normalize(definition: PropertyDef, raw: Any, owner_ids: Iterable[str]) -> str | PropertyError:
    """The stored string for ``raw``, or why it is refused. ``""`` clears the value."""
    name, text = definition.name, _as_text(raw)
    if definition.read_only_value:
        return PropertyError(name, "READ_ONLY_VALUE", f"{name} is a read only property; its value cannot be set.")
    if text == "":
        return ""
    kind = definition.type
    if kind in ("enumeration", "bool"):
        allowed = set(owner_ids) if definition.owner_options else definition.option_values()
        values = text.split(";") if definition.field_type == "checkbox" else [text]
        if kind == "bool":
            values = [v.lower() for v in values]
            text = values[0]
        bad = [v for v in values if v not in allowed]
        if bad:
            shown = ", ".join(sorted(allowed))
            return PropertyError(name, "INVALID_OPTION", f"{bad[0]} was not one of the allowed options: [{shown}]")
        return text
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            return PropertyError(name, "INVALID_DOUBLE", f"{text} is not a valid number for {name}")
        return text
    if kind in ("datetime", "date"):
        try:
            ms = parse_time(text)
        except ValueError:
            return PropertyError(name, "INVALID_DATE", f"{text} is not a valid date for {name}")
        if kind == "date" and ms % 86_400_000:
            return PropertyError(name, "INVALID_DATE", f"{text} is not at midnight UTC for date property {name}")
        return format_ms(ms)
    if name == "email" and not _EMAIL.match(text):
        return PropertyError(name, "INVALID_EMAIL", f"Email address {text} is invalid")
    return text


def validate(definitions: dict[str, PropertyDef], properties: Any, owner_ids: Iterable[str],
             ) -> tuple[dict[str, str], list[PropertyError]]:
    """Normalised values of a write's ``properties`` and the errors (a write with errors is refused whole)."""
    if not isinstance(properties, dict):
        return {}, [PropertyError("properties", "INVALID_INPUT", "properties must be an object")]
    owners = list(owner_ids)
    values: dict[str, str] = {}
    errors: list[PropertyError] = []
    for name, raw in properties.items():
        definition = definitions.get(name)
        if definition is None:
            errors.append(PropertyError(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            continue
        result = normalize(definition, raw, owners)
        if isinstance(result, PropertyError):
            errors.append(result)
        else:
            values[name] = result
    return values, errors


def drop_backward_stage(current: str | None, values: dict[str, str]) -> dict[str, str]:
    """Apply HubSpot's lifecycle rule: a move to an earlier stage is silently ignored (200, unchanged).

    Clearing the stage (``""``) in one request and setting the earlier stage in a later request is the
    documented way back; a clear and a set cannot happen in one request.
    """
    wanted = values.get("lifecyclestage")
    if not wanted or not current or current not in STAGE_ORDER or wanted not in STAGE_ORDER:
        return values
    if STAGE_ORDER[wanted] < STAGE_ORDER[current]:
        return {k: v for k, v in values.items() if k != "lifecyclestage"}
    return values
