"""``fields.toml``: outbound field mappings with value maps and ownership, and inbound person fields.

Checks here need only this file; whether value maps name real statuses (and every one of them) is a
cross-file check in :mod:`leadsync.rules.crosscheck`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadsync.domain.fields import (
    MAPPABLE_VALUES,
    OBJECTS,
    STATUS_VALUES,
    FieldMapping,
    FieldMappings,
    InboundMapping,
)
from leadsync.domain.grades import GRADES
from leadsync.domain.model import PERSON_FIELDS, System
from leadsync.domain.version import content_version
from leadsync.rules.source import RuleError, RuleSetError, SourceFile, validate

FILE_NAME = "fields.toml"

_STRICT = ConfigDict(extra="forbid", strict=True)
ValueName = Literal["score", "grade", "lifecycle_status", "contact_status", "lifecycle_reason", "mql_at",
                    "sla_due_at", "sla_breached", "owner"]


class OutboundModel(BaseModel):
    model_config = _STRICT
    value: ValueName
    field: str = Field(min_length=1)
    objects: list[str] = Field(min_length=1)
    owner: Literal["leadsync", "salesforce", "hubspot"] = "leadsync"
    values: dict[str, str] | None = None


class InboundObjectModel(BaseModel):
    model_config = _STRICT
    fields: dict[str, str] = {}
    custom: dict[str, str] = {}


class SystemModel(BaseModel):
    model_config = _STRICT
    outbound: list[OutboundModel] = []
    inbound: dict[str, InboundObjectModel] = {}


class FieldsFile(BaseModel):
    model_config = _STRICT
    salesforce: SystemModel = SystemModel()
    hubspot: SystemModel = SystemModel()


def load(data: dict[str, Any], source: SourceFile) -> FieldMappings:
    """Validate ``fields.toml`` into :class:`FieldMappings`, reporting every problem found."""
    model = validate(FieldsFile, data, source)
    errors: list[RuleError] = []
    outbound: list[FieldMapping] = []
    inbound: list[InboundMapping] = []
    for system in System:
        section: SystemModel = getattr(model, system.value)
        errors += _outbound(system, section, source, outbound)
        errors += _inbound(system, section, source, inbound)
    if errors:
        raise RuleSetError(errors)
    return FieldMappings(tuple(outbound), tuple(inbound), content_version({FILE_NAME: data}))


def _where(source: SourceFile, path: tuple[str | int, ...]) -> str:
    line = source.line_of(path)
    return f"{source.name}:{line}" if line is not None else source.name


def _outbound(system: System, section: SystemModel, source: SourceFile, out: list[FieldMapping]) -> list[RuleError]:
    errors: list[RuleError] = []
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(section.outbound):
        path: tuple[str | int, ...] = (system.value, "outbound", i)
        if entry.values is not None and entry.value not in MAPPABLE_VALUES:
            errors.append(source.error((*path, "values"), f"{entry.value} takes no value map (only "
                                       f"{', '.join(sorted(MAPPABLE_VALUES))} do)"))
        if entry.values is None and entry.value in STATUS_VALUES:
            errors.append(source.error(path, f"{entry.value} needs a values table mapping every status to an "
                                       f"option of {entry.field}"))
        if entry.value == "grade" and entry.values is not None:
            missing = [g for g in GRADES if g not in entry.values]
            unknown = [g for g in entry.values if g not in GRADES]
            if missing:
                errors.append(source.error((*path, "values"), f"grade value map lacks {', '.join(missing)}"))
            errors += [source.error((*path, "values", g), f"not a grade: {g!r}") for g in unknown]
        for j, obj in enumerate(entry.objects):
            if obj not in OBJECTS[system]:
                errors.append(source.error((*path, "objects", j), f"unknown {system.value} object {obj!r} "
                                           f"(expected one of {', '.join(OBJECTS[system])})"))
                continue
            if (obj, entry.field) in seen:
                errors.append(source.error((*path, "field"), f"{obj}.{entry.field} is already mapped by "
                                           f"{system.value}.outbound[{seen[(obj, entry.field)]}]"))
                continue
            seen[(obj, entry.field)] = i
            values = None if entry.values is None else dict(entry.values)
            out.append(FieldMapping(system, obj, entry.field, entry.value, entry.owner, values,
                                    _where(source, (*path, "field")), path))
    return errors


def _inbound(system: System, section: SystemModel, source: SourceFile, out: list[InboundMapping]) -> list[RuleError]:
    errors: list[RuleError] = []
    for obj, entry in section.inbound.items():
        path: tuple[str | int, ...] = (system.value, "inbound", obj)
        if obj not in OBJECTS[system]:
            errors.append(source.error(path, f"unknown {system.value} object {obj!r} "
                                       f"(expected one of {', '.join(OBJECTS[system])})"))
            continue
        targets: dict[str, str] = {}
        for kind, table in (("fields", entry.fields), ("custom", entry.custom)):
            for vendor_field, person_field in table.items():
                key = (*path, kind, vendor_field)
                if kind == "fields" and person_field not in PERSON_FIELDS:
                    errors.append(source.error(key, f"unknown person field {person_field!r} (a custom field for "
                                               f"grading goes under [{'.'.join(map(str, path))}.custom])"))
                    continue
                if kind == "custom" and (person_field in PERSON_FIELDS or not person_field.isidentifier()):
                    errors.append(source.error(key, f"custom field name {person_field!r} must be a new identifier, "
                                               "not a canonical person field"))
                    continue
                if person_field in targets:
                    errors.append(source.error(key, f"{person_field!r} is already filled from {targets[person_field]}"))
                    continue
                targets[person_field] = vendor_field
                out.append(InboundMapping(system, obj, vendor_field, person_field, kind == "custom",
                                          _where(source, key)))
    return errors
