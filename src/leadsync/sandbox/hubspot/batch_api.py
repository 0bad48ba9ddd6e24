"""Batch routes ``/crm/v3/objects/{type}/batch/{read|create|update|upsert|archive}``.

At most 100 inputs (else 400). Per-input failures make the answer a 207 with ``numErrors`` and
``errors[{status, category, message, context: {ids}}]``; what succeeded is applied and returned.
Duplicate ids in one update are a 400, a create whose email already exists is a 409 ``CONFLICT``
for the whole batch (nothing created), as on the real API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leadsync.sandbox.hubspot import objects_api as objects
from leadsync.sandbox.hubspot.wire import batch_error, error_body, format_ms
from leadsync.sandbox.hubspot.writes import error_details, errors_message, validate
from leadsync.sandbox.server import Request, Response

if TYPE_CHECKING:
    from leadsync.sandbox.hubspot.emulator import HubSpotEmulator

ACTIONS = ("read", "create", "update", "upsert", "archive")
BATCH_MAX = 100
BatchHandler = Callable[["HubSpotEmulator", str, Request], Response]


@dataclass
class Outcome:
    started_ms: int
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    injected: set[str] = field(default_factory=set)
    injected_params: dict[str, Any] = field(default_factory=dict)

    def fail_injected(self, key: str) -> bool:
        """True (and an error recorded) when an ``hs_batch_error`` fault names this input."""
        if key not in self.injected:
            return False
        params = self.injected_params
        self.errors.append(batch_error(str(params.get("category", "VALIDATION_ERROR")),
                                       str(params.get("message", f"injected failure for {key}")), [key],
                                       status=str(params.get("status", "error"))))
        return True

    def response(self, emu: HubSpotEmulator, ok_status: int = 200) -> Response:
        body: dict[str, Any] = {"status": "COMPLETE", "results": self.results,
                                "startedAt": format_ms(self.started_ms), "completedAt": format_ms(emu.now_ms())}
        if not self.errors:
            return Response(ok_status, body)
        return Response(207, {**body, "numErrors": len(self.errors), "errors": self.errors})


def handler(action: str) -> BatchHandler:
    run = {"read": _read, "create": _create, "update": _update, "upsert": _upsert, "archive": _archive}[action]

    def handle(emu: HubSpotEmulator, object_type: str, request: Request) -> Response:
        body = objects.body_of(request)
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            return objects.invalid("inputs must be a list")
        if len(inputs) > BATCH_MAX:
            return objects.invalid(f"Too many inputs: {len(inputs)}; the maximum is {BATCH_MAX}")
        if not all(isinstance(i, dict) for i in inputs):
            return objects.invalid("each input must be an object")
        outcome = Outcome(emu.now_ms())
        fault = emu.faults.take(f"{object_type}.batch_{action}", {"hs_batch_error"})
        if fault is not None:
            outcome.injected = {str(i) for i in fault.params.get("ids", [])}
            outcome.injected_params = fault.params
        return run(emu, object_type, request, body, outcome)

    return handle


def _names(emu: HubSpotEmulator, object_type: str, extra: Any) -> list[str]:
    return sorted({*emu.default_properties(object_type), *(extra or [])})


def _read(emu: HubSpotEmulator, object_type: str, request: Request, body: dict[str, Any],
          outcome: Outcome) -> Response:
    if body.get("propertiesWithHistory"):
        return objects.invalid("propertiesWithHistory is not supported by the sandbox (it keeps no value history)")
    names = emu.known(object_type, [str(p) for p in body.get("properties") or emu.default_properties(object_type)])
    missing: list[str] = []
    for item in body["inputs"]:
        key = str(item.get("id", ""))
        if outcome.fail_injected(key):
            continue
        record = objects.find(emu, object_type, key, body.get("idProperty"), objects.flag(request, "archived"))
        if record is None:
            missing.append(key)
        else:
            outcome.results.append(record.to_json(names))
    if missing:
        singular = object_type[:-1].upper()
        outcome.errors.append(batch_error("OBJECT_NOT_FOUND", f"Could not get some {singular} objects, they may be "
                                          "deleted or not exist. Check that ids are valid.", missing))
    return outcome.response(emu)


def _create(emu: HubSpotEmulator, object_type: str, request: Request, body: dict[str, Any],
            outcome: Outcome) -> Response:
    if object_type == "contacts":
        seen: set[str] = set()
        for item in body["inputs"]:
            email = str((item.get("properties") or {}).get("email") or "").lower()
            existing = emu.stores["contacts"].by_email(email) if email else None
            if existing is not None or (email and email in seen):
                existing_id = existing.id if existing is not None else "(same batch)"
                return Response(409, error_body(f"Contact already exists. Existing ID: {existing_id}", "CONFLICT"))
            seen.add(email)
    for item in body["inputs"]:
        properties = item.get("properties") or {}
        key = str(properties.get("email") or item.get("objectWriteTraceId") or "")
        if outcome.fail_injected(key):
            continue
        values, errors = validate(emu.definitions(object_type), properties, emu.owner_ids())
        problem = objects.check_associations(emu, object_type, item.get("associations") or [])
        if errors or problem:
            message = errors_message(errors) if errors else str(problem)
            outcome.errors.append(batch_error("VALIDATION_ERROR", message, [key] if key else [],
                                              error_details(errors)))
            continue
        record = objects.create_record(emu, object_type, values)
        objects.apply_associations(emu, object_type, record.id, item.get("associations") or [])
        outcome.results.append(record.to_json(_names(emu, object_type, values)))
    return outcome.response(emu, ok_status=201)  # batch create answers 201 Created


def _update(emu: HubSpotEmulator, object_type: str, request: Request, body: dict[str, Any],
            outcome: Outcome) -> Response:
    keys = [str(item.get("id", "")) for item in body["inputs"]]
    if len(set(keys)) != len(keys):
        return objects.invalid("Duplicate IDs found in batch input: " + ", ".join(sorted({k for k in keys
                                                                                       if keys.count(k) > 1})))
    for key, item in zip(keys, body["inputs"], strict=True):
        if outcome.fail_injected(key):
            continue
        record = objects.find(emu, object_type, key, item.get("idProperty"))
        if record is None:
            outcome.errors.append(batch_error("OBJECT_NOT_FOUND", f"Object {key} not found", [key]))
            continue
        _write(emu, object_type, record, item.get("properties") or {}, key, outcome)
    return outcome.response(emu)


def _write(emu: HubSpotEmulator, object_type: str, record: Any, properties: dict[str, Any], key: str,
           outcome: Outcome, extra: dict[str, Any] | None = None) -> None:
    values, errors = validate(emu.definitions(object_type), properties, emu.owner_ids())
    if errors:
        outcome.errors.append(batch_error("VALIDATION_ERROR", errors_message(errors), [key], error_details(errors)))
        return
    try:
        objects.update_record(emu, object_type, record, values)
    except objects.Conflict as exc:
        outcome.errors.append(batch_error("CONFLICT", str(exc), [key]))
        return
    outcome.results.append({**record.to_json(_names(emu, object_type, values)), **(extra or {})})


def _upsert(emu: HubSpotEmulator, object_type: str, request: Request, body: dict[str, Any],
            outcome: Outcome) -> Response:
    definitions = emu.definitions(object_type)
    for item in body["inputs"]:
        key, id_property = str(item.get("id", "")), str(item.get("idProperty") or "")
        unique = id_property == "email" and object_type == "contacts"
        if not unique and not (id_property in definitions and definitions[id_property].has_unique_value):
            return objects.invalid(f"idProperty {id_property!r} is not a unique property of {object_type}")
        if outcome.fail_injected(key):
            continue
        record = objects.find(emu, object_type, key, id_property)
        properties = item.get("properties") or {}
        if record is not None:
            _write(emu, object_type, record, properties, key, outcome, {"new": False})
            continue
        values, errors = validate(definitions, {**properties, id_property: key}, emu.owner_ids())
        if errors:
            outcome.errors.append(batch_error("VALIDATION_ERROR", errors_message(errors), [key],
                                              error_details(errors)))
            continue
        created = objects.create_record(emu, object_type, values)
        outcome.results.append({**created.to_json(_names(emu, object_type, values)), "new": True})
    return outcome.response(emu)


def _archive(emu: HubSpotEmulator, object_type: str, request: Request, body: dict[str, Any],
             outcome: Outcome) -> Response:
    store = emu.stores[object_type]
    for item in body["inputs"]:
        record = store.live(str(item.get("id", "")))
        if record is not None:
            store.archive(record, emu.now_ms())
    return Response(204)
