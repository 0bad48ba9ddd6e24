"""sObject Collections: create, update, upsert by external id and delete, up to 200 records a call.

Like the real API, the HTTP status is 200 whenever the request itself was understood, with one result
per record in input order; body-level problems (more than 200 records, a field that does not exist, a
value that cannot be deserialized, no ``attributes.type``) refuse the whole request with a 400. With
``allOrNone`` one failed record rolls every record back and the others report
``ALL_OR_NONE_OPERATION_ROLLED_BACK``.

Every record is checked before anything is written, then the survivors are applied; so an
``allOrNone`` rollback never has to undo a write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leadsync.sandbox.salesforce.schema import SCHEMAS, TYPE_BY_PREFIX, ObjectSchema
from leadsync.sandbox.salesforce.store import (
    OrgStore,
    Record,
    RequestError,
    WriteError,
    coerce_fields,
    require_schema,
)
from leadsync.sandbox.salesforce.values import normalize_id

MAX_RECORDS = 200
ROLLED_BACK = WriteError("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records were "
                         "valid and the request was using AllOrNone header")


@dataclass
class Planned:
    """One record's intended write, or the error that stops it."""

    schema: ObjectSchema
    values: Record
    existing: Record | None = None
    error: WriteError | None = None
    created: bool | None = None  # upserts only


LockCheck = Callable[[str], WriteError | None]


def _records(body: Any) -> tuple[list[dict[str, Any]], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise RequestError("JSON_PARSER_ERROR", "The request body must be an object with a records array")
    records = body["records"]
    if len(records) > MAX_RECORDS:
        raise RequestError("EXCEEDED_ID_LIMIT", "Record limit reached. Cannot submit more than 200 records into "
                           "this call")
    return records, bool(body.get("allOrNone", False))


def _schema_of(record: Any) -> ObjectSchema:
    attributes = record.get("attributes") if isinstance(record, dict) else None
    type_name = attributes.get("type") if isinstance(attributes, dict) else None
    if not type_name:
        raise RequestError("INVALID_TYPE", "Must send a concrete entity type.")
    return require_schema(type_name)


def _record_id(record: dict[str, Any]) -> Any:
    return record.get("id", record.get("Id"))


def plan_create(store: OrgStore, body: Any) -> tuple[list[Planned], bool]:
    records, all_or_none = _records(body)
    plans = []
    for record in records:
        schema = _schema_of(record)
        values = coerce_fields(schema, {k: v for k, v in record.items() if k not in ("id", "Id")})
        plan = Planned(schema, values)
        if _record_id(record) is not None:
            plan.error = WriteError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        plans.append(plan)
    for plan in plans:
        if plan.error is None:
            plan.error = _checked(store, plan)
    return plans, all_or_none


def plan_update(store: OrgStore, body: Any, locked: LockCheck) -> tuple[list[Planned], bool]:
    records, all_or_none = _records(body)
    plans = []
    for record in records:
        schema = _schema_of(record)
        values = coerce_fields(schema, {k: v for k, v in record.items() if k not in ("id", "Id")})
        plans.append(Planned(schema, values))
        record_id = _record_id(record)
        if record_id is None:
            plans[-1].error = WriteError("MISSING_ARGUMENT", "Id not specified in an update call")
            continue
        plans[-1].error = store.find_missing(schema, record_id) or locked(str(normalize_id(record_id)))
        if plans[-1].error is None:
            plans[-1].existing = store.get(schema.name, str(normalize_id(record_id)))
            plans[-1].error = _checked(store, plans[-1])
    return plans, all_or_none


def plan_upsert(store: OrgStore, type_name: str, field_name: str, body: Any,
                locked: LockCheck) -> tuple[list[Planned], bool]:
    schema = require_schema(type_name)
    key = schema.field(field_name)
    if key is None or not (key.external_id or key.name == "Id"):
        raise RequestError("INVALID_FIELD", f"Field name provided, {field_name} is not an External ID or indexed "
                           f"field for {schema.name}")
    records, all_or_none = _records(body)
    index: dict[Any, list[Record]] = {}
    for row in store.live[schema.name].values():
        value = row.get(key.name)
        if value is not None:
            index.setdefault(value.casefold() if isinstance(value, str) else value, []).append(row)
    wanted = [_fold(record.get(key.name) if isinstance(record, dict) else None) for record in records]
    plans = []
    for record, match_value in zip(records, wanted, strict=True):
        if _schema_of(record).name != schema.name:
            raise RequestError("INVALID_TYPE", f"Record type does not match the URL's sObject type {schema.name}")
        values = coerce_fields(schema, record)
        plan = Planned(schema, {k: v for k, v in values.items() if k != "Id"})
        plans.append(plan)
        matches = index.get(match_value, []) if match_value is not None else []
        if match_value is None:
            plan.error = WriteError("MISSING_ARGUMENT", f"{key.name} not specified", [key.name])
        elif wanted.count(match_value) > 1:
            plan.error = WriteError("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: "
                                    f"{record.get(key.name)}", [key.name])
        elif len(matches) > 1:
            ids = ", ".join(m["Id"] for m in matches)
            plan.error = WriteError("DUPLICATE_EXTERNAL_ID", f"{key.label}: more than one record found for "
                                    f"external id field: [{ids}]", [key.name])
        elif matches:
            plan.existing, plan.created = matches[0], False
            plan.values.pop(key.name, None)  # the match already carries the key (maybe in another case)
            plan.error = locked(matches[0]["Id"]) or _checked(store, plan)
        else:
            plan.created = True
            plan.error = _checked(store, plan)
    return plans, all_or_none


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _checked(store: OrgStore, plan: Planned) -> WriteError | None:
    try:
        store.check(plan.schema, plan.values, plan.existing)
    except WriteError as error:
        return error
    return None


def apply(store: OrgStore, plans: list[Planned], all_or_none: bool, user_id: str) -> list[dict[str, Any]]:
    """Write the plans that passed (none if ``all_or_none`` and one failed); the per-record results."""
    failed = any(plan.error is not None for plan in plans)
    results: list[dict[str, Any]] = []
    for plan in plans:
        error = plan.error or (ROLLED_BACK if all_or_none and failed else None)
        if error is not None:
            results.append({"success": False, "errors": [error.to_json()]})
            continue
        if plan.existing is None:
            record = store.insert(plan.schema, plan.values, user_id)
        else:
            record = store.update(plan.schema, plan.existing, plan.values, user_id)
        result: dict[str, Any] = {"id": record["Id"], "success": True, "errors": []}
        if plan.created is not None:
            result["created"] = plan.created
        results.append(result)
    return results


def delete(store: OrgStore, ids: list[str], all_or_none: bool, locked: LockCheck) -> list[dict[str, Any]]:
    if len(ids) > MAX_RECORDS:
        raise RequestError("EXCEEDED_ID_LIMIT", "Record limit reached. Cannot submit more than 200 records into "
                           "this call")
    plans: list[tuple[str, Record | None, WriteError | None]] = []
    for raw in ids:
        normalized = normalize_id(raw)
        record = store.lookup(normalized) if normalized else None
        if record is None:
            plans.append((raw, None, WriteError("INVALID_CROSS_REFERENCE_KEY" if normalized else "MALFORMED_ID",
                                                "invalid cross reference id" if normalized else f"malformed id {raw}")))
        elif record.get("IsDeleted"):
            plans.append((raw, None, WriteError("ENTITY_IS_DELETED", "entity is deleted")))
        else:
            plans.append((raw, record, locked(record["Id"])))
    failed = any(error is not None for _, _, error in plans)
    results: list[dict[str, Any]] = []
    for _raw, record, error in plans:
        error = error or (ROLLED_BACK if all_or_none and failed else None)
        if error is not None or record is None:
            results.append({"success": False, "errors": [(error or ROLLED_BACK).to_json()]})
            continue
        store.delete(SCHEMAS[TYPE_BY_PREFIX[record["Id"][:3]]], record)
        results.append({"id": record["Id"], "success": True, "errors": []})
    return results
