"""The emulated org's records, with the write checks the real API applies.

Records are plain dicts keyed by API field name, holding JSON values (datetimes as the API prints them).
A write replaces a record's dict instead of mutating it, so a query locator that holds the old dicts
keeps serving the snapshot it was created with. Callers hold the emulator's lock around every method.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from leadsync.sandbox.salesforce.schema import (
    CLOSED_STAGES,
    ID_TYPES,
    KEY_PREFIXES,
    NUMBER_TYPES,
    PERSON_NAME_TYPES,
    SCHEMAS,
    STRING_TYPES,
    TYPE_BY_PREFIX,
    FieldSpec,
    ObjectSchema,
    schema_for,
)
from leadsync.sandbox.salesforce.values import (
    IdFactory,
    canonical_date,
    canonical_datetime,
    format_datetime,
    normalize_id,
)

Record = dict[str, Any]
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SOAP_NAMES = {"double": "double", "currency": "double", "percent": "double", "int": "int", "boolean": "boolean",
               "date": "date", "datetime": "datetime"}
_CANONICAL_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000$")


class RequestError(Exception):
    """The whole request is refused (HTTP 400), as when the real API cannot deserialize the body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class WriteError(Exception):
    """One record's DML failed; collections report it per record, single-record calls as a 400."""

    def __init__(self, status_code: str, message: str, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.fields = list(fields)

    def to_json(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}


def require_schema(type_name: str) -> ObjectSchema:
    schema = schema_for(type_name)
    if schema is None:
        raise RequestError("NOT_FOUND", f"The requested resource does not exist: sObject type '{type_name}'")
    return schema


def coerce_fields(schema: ObjectSchema, fields: dict[str, Any]) -> Record:
    """Body values converted to stored form, keyed by canonical name; the deserializer's errors."""
    coerced: Record = {}
    for name, value in fields.items():
        if name == "attributes":
            continue
        spec = schema.field(name)
        if spec is None:
            raise RequestError("INVALID_FIELD", f"No such column '{name}' on sobject of type {schema.name}")
        coerced[spec.name] = coerce_value(spec, value)
    return coerced


def coerce_value(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    kind = spec.type
    converted: Any = None
    if kind in STRING_TYPES or kind in ID_TYPES:
        converted = value if isinstance(value, str) else (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else None)
    elif kind == "boolean":
        converted = value if isinstance(value, bool) else {"true": True, "false": False}.get(str(value).lower())
    elif kind in NUMBER_TYPES:
        converted = _number(value, integral=kind == "int")
    elif kind == "date" and isinstance(value, str):
        converted = canonical_date(value[:10]) if len(value) >= 10 else None
    elif kind == "datetime" and isinstance(value, str):
        converted = canonical_datetime(value)
    if converted is None:
        token = "VALUE_STRING" if isinstance(value, str) else "START_ARRAY" if isinstance(value, list) else (
            "START_OBJECT" if isinstance(value, dict) else "VALUE_NUMBER" if isinstance(value, int | float) else
            "VALUE_TRUE")
        raise RequestError("JSON_PARSER_ERROR", f"Cannot deserialize instance of {_SOAP_NAMES.get(kind, 'string')} "
                           f"from {token} value {value} or request may be missing a required field "
                           f"(field {spec.name})")
    return converted


def _number(value: Any, integral: bool) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number: float = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    if integral:
        return int(number) if number.is_integer() else None
    return number


class OrgStore:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self.ids = IdFactory()
        self.live: dict[str, dict[str, Record]] = {name: {} for name in SCHEMAS}
        self.deleted: dict[str, dict[str, Record]] = {name: {} for name in SCHEMAS}
        self.by_id: dict[str, Record] = {}
        self.deleted_log: dict[str, list[tuple[str, str]]] = {name: [] for name in SCHEMAS}
        self.version = 0  # bumped on every write; sorted query views compare it to know they are stale
        stamp = self.stamp()
        # The org's default actor: seeded records and user actions (the UI) name it as CreatedById and
        # LastModifiedById unless they say who acted. It is not the API user: API writes carry the user of
        # the session that made them (see SalesforceEmulator.api_user), as LastModifiedById does in an org.
        self.default_user_id = self.ids.new(KEY_PREFIXES["User"])
        self._put("User", self._defaults(SCHEMAS["User"], {
            "Id": self.default_user_id, "Username": "admin@leadsync.sandbox", "LastName": "Admin",
            "FirstName": "Sandbox", "Email": "admin@leadsync.sandbox", "Alias": "sadmin", "IsActive": True,
        }, stamp, self.default_user_id))

    def stamp(self) -> str:
        return format_datetime(self._now())

    # ----- reading ---------------------------------------------------------------------------------
    def get(self, type_name: str, record_id: str) -> Record | None:
        return self.live[type_name].get(record_id)

    def lookup(self, record_id: str) -> Record | None:
        return self.by_id.get(record_id)

    def scan(self, type_name: str, include_deleted: bool) -> list[Record]:
        rows = list(self.live[type_name].values())
        if include_deleted:
            rows.extend(self.deleted[type_name].values())
        return rows

    # ----- seeding -------------------------------------------------------------------------------
    def load(self, records: dict[str, list[Record]]) -> int:
        """Add seed records (see ``SalesforceEmulator.load_org``); returns how many were loaded."""
        stamp = self.stamp()
        loaded = 0
        for type_name, rows in records.items():
            schema = SCHEMAS.get(type_name)
            if schema is None:
                raise ValueError(f"load_org: unknown sObject type {type_name!r}")
            for index, row in enumerate(rows):
                where = f"load_org: {type_name}[{index}]"
                record_id = normalize_id(row.get("Id"))
                if record_id is None or record_id[:3] != schema.key_prefix:
                    raise ValueError(f"{where}: Id {row.get('Id')!r} is not an 18-char {schema.key_prefix} id")
                unknown = [name for name in row if name not in schema.by_name]
                if unknown:
                    raise ValueError(f"{where}: no such field(s) on {type_name}: {', '.join(unknown)}")
                clean = {name: self._seed_value(schema.by_name[name], value, where) for name, value in row.items()}
                clean["Id"] = record_id
                self.ids.skip_past(record_id)
                self._put(type_name, self._defaults(schema, clean, stamp, self.default_user_id))
                loaded += 1
        return loaded

    @staticmethod
    def _seed_value(spec: FieldSpec, value: Any, where: str) -> Any:
        if spec.type != "datetime" or value is None or (isinstance(value, str) and _CANONICAL_STAMP.match(value)):
            return value
        converted = canonical_datetime(value) if isinstance(value, str) else None
        if converted is None:
            raise ValueError(f"{where}: {spec.name} {value!r} is not an ISO datetime")
        return converted

    def _defaults(self, schema: ObjectSchema, record: Record, stamp: str, user_id: str) -> Record:
        full: Record = {}
        for spec in schema.fields:
            if spec.name in record:
                full[spec.name] = record[spec.name]
            elif spec.type == "boolean":
                full[spec.name] = False
            else:
                full[spec.name] = spec.default_value
        for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            full[name] = full[name] or stamp
        for name in ("CreatedById", "LastModifiedById"):
            full[name] = full[name] or user_id
        if "OwnerId" in full and full["OwnerId"] is None:
            full["OwnerId"] = user_id
        _derive(schema.name, full, record)
        return full

    def _put(self, type_name: str, record: Record) -> None:
        self.version += 1
        record_id = record["Id"]
        if record.get("IsDeleted"):
            self.live[type_name].pop(record_id, None)
            self.deleted[type_name][record_id] = record
        else:
            self.live[type_name][record_id] = record
        self.by_id[record_id] = record

    # ----- writing -------------------------------------------------------------------------------
    def check(self, schema: ObjectSchema, values: Record, existing: Record | None) -> None:
        """The DML checks of one record's write; raises :class:`WriteError`."""
        if existing is not None and schema.name == "Lead" and existing.get("IsConverted"):
            raise WriteError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        locked = [name for name in values if not (
            schema.by_name[name].updateable if existing is not None else schema.by_name[name].createable)]
        if locked:
            raise WriteError("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: "
                             f"{', '.join(locked)}. Please check the security settings of this field and verify "
                             "that it is read/write for your profile or permission set.", locked)
        missing = [spec.name for spec in schema.fields if not spec.nillable and spec.name in values
                   and values[spec.name] is None and spec.type != "boolean"]
        if existing is None:
            missing += [spec.name for spec in schema.fields if spec.required_on_create and spec.name not in values]
        if missing:
            raise WriteError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                             missing)
        for name, value in values.items():
            if value is not None:
                self._check_value(schema.by_name[name], value)

    def _check_value(self, spec: FieldSpec, value: Any) -> None:
        if spec.type == "picklist" and spec.restricted and value not in spec.picklist:
            raise WriteError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                             f"{spec.label}: bad value for restricted picklist field: {value}", [spec.name])
        if spec.type in STRING_TYPES and spec.length and len(value) > spec.length:
            raise WriteError("STRING_TOO_LONG", f"{spec.label}: data value too large: {value[:40]} "
                             f"(max length={spec.length})", [spec.name])
        if spec.type == "email" and not _EMAIL_RE.match(value):
            raise WriteError("INVALID_EMAIL_ADDRESS", f"{spec.label}: invalid email address: {value}", [spec.name])
        if spec.type == "reference":
            target_id = normalize_id(value)
            prefixes = {KEY_PREFIXES[t] for t in spec.reference_to if t in KEY_PREFIXES}
            if target_id is None or target_id[:3] not in prefixes:
                raise WriteError("FIELD_INTEGRITY_EXCEPTION", f"{spec.label}: id value of incorrect type: {value}",
                                 [spec.name])
            if target_id not in self.live[_type_of(target_id)]:
                raise WriteError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [spec.name])

    def insert(self, schema: ObjectSchema, values: Record, user_id: str | None = None,
               stamp: str | None = None) -> Record:
        values = _normalize_refs(schema, values)
        record = dict(values, Id=self.ids.new(schema.key_prefix))
        stamp = stamp or self.stamp()
        for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            record[name] = stamp
        full = self._defaults(schema, record, stamp, user_id or self.default_user_id)
        self._put(schema.name, full)
        return full

    def update(self, schema: ObjectSchema, existing: Record, values: Record, user_id: str | None = None,
               stamp: str | None = None) -> Record:
        """A new dict for the record with ``values`` applied; SystemModstamp and LastModifiedDate bumped."""
        updated = dict(existing)
        updated.update(_normalize_refs(schema, values))
        stamp = stamp or self.stamp()
        updated["SystemModstamp"] = updated["LastModifiedDate"] = stamp
        updated["LastModifiedById"] = user_id or self.default_user_id
        _derive(schema.name, updated, values)
        self._put(schema.name, updated)
        return updated

    def delete(self, schema: ObjectSchema, existing: Record) -> None:
        stamp = self.stamp()
        gone = dict(existing, IsDeleted=True, SystemModstamp=stamp)
        self.deleted_log[schema.name].append((existing["Id"], stamp))
        self._put(schema.name, gone)

    def find_missing(self, schema: ObjectSchema, record_id: Any) -> WriteError | None:
        """Why ``record_id`` cannot be written, or ``None`` when it is a live record of ``schema``."""
        normalized = normalize_id(record_id)
        if normalized is None:
            return WriteError("MALFORMED_ID", f"malformed id {record_id}")
        if normalized in self.live[schema.name]:
            return None
        if normalized in self.deleted[schema.name]:
            return WriteError("ENTITY_IS_DELETED", "entity is deleted")
        return WriteError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")


def _type_of(record_id: str) -> str:
    return TYPE_BY_PREFIX.get(record_id[:3], "Lead")


def _normalize_refs(schema: ObjectSchema, values: Record) -> Record:
    return {name: normalize_id(value) if value is not None and schema.by_name[name].type in ID_TYPES else value
            for name, value in values.items()}


def _derive(type_name: str, record: Record, changed: Record) -> None:
    """Fields the platform computes: Name from its parts, closed/won flags from stage and status."""
    if type_name in PERSON_NAME_TYPES and ("FirstName" in changed or "LastName" in changed or not record["Name"]):
        record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p) or None
    if type_name == "Opportunity" and "StageName" in changed:
        stage = record.get("StageName")
        record["IsClosed"] = stage in CLOSED_STAGES
        record["IsWon"] = CLOSED_STAGES.get(stage or "", False)
    if type_name == "Task" and "Status" in changed:
        record["IsClosed"] = record.get("Status") == "Completed"
        if record["IsClosed"] and not record.get("CompletedDateTime"):
            record["CompletedDateTime"] = record["LastModifiedDate"]
    responded = record.get("Status") in ("Responded", "Attended")
    if type_name == "CampaignMember" and "Status" in changed and responded and not record.get("HasResponded"):
        record["HasResponded"] = True
        record["FirstRespondedDate"] = (record.get("LastModifiedDate") or "")[:10] or None
