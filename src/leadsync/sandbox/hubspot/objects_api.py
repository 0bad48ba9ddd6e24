"""Routes of ``/crm/v3/objects/{type}``: list, get, create, update, archive, search, merge.

Batch routes are in :mod:`.batch_api`. Handlers run under the emulator's lock, so each request sees
and leaves a consistent portal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from leadsync.sandbox.hubspot import batch_api
from leadsync.sandbox.hubspot.search import RESULT_CAP, SearchError, parse_search
from leadsync.sandbox.hubspot.store import Record
from leadsync.sandbox.hubspot.wire import error_body
from leadsync.sandbox.hubspot.writes import drop_backward_stage, error_details, errors_message, validate
from leadsync.sandbox.server import Request, Response

if TYPE_CHECKING:
    from leadsync.sandbox.hubspot.emulator import HubSpotEmulator

LIST_MAX = 100
# HubSpot's names of object types in association type names ("contact_to_call", "meeting_event_to_contact").
ASSOCIATION_NAMES = {"contacts": "contact", "calls": "call", "emails": "email", "meetings": "meeting_event",
                     "notes": "note", "tasks": "task"}


class BadInput(ValueError):
    """A request body HubSpot would refuse with a 400 before looking at it."""


def body_of(request: Request) -> dict[str, Any]:
    """The JSON object a request carries (``{}`` when empty)."""
    try:
        body = request.json()
    except ValueError as exc:
        raise BadInput(f"Invalid input JSON on line 1: {exc}") from exc
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadInput("the request body must be a JSON object")
    return body


class Conflict(Exception):
    def __init__(self, existing_id: str) -> None:
        super().__init__(f"Contact already exists. Existing ID: {existing_id}")
        self.existing_id = existing_id


def install(emu: HubSpotEmulator) -> None:
    from leadsync.sandbox.hubspot.emulator import OBJECT_TYPES, TYPE_ALIASES

    for object_type in OBJECT_TYPES:
        base = "/crm/v3/objects/(?:" + "|".join(TYPE_ALIASES[object_type]) + ")"

        def bind(handler: Any, object_type: str = object_type) -> Any:
            def run(request: Request) -> Response:
                # Path segments arrive percent-encoded (an email as idProperty).
                request.params = {k: unquote(v) for k, v in request.params.items()}
                try:
                    with emu.lock:
                        return handler(emu, object_type, request)  # type: ignore[no-any-return]
                except BadInput as exc:
                    return invalid(str(exc))
            return run

        emu.route("GET", base + "/?", f"{object_type}.list", bind(list_objects))
        emu.route("POST", base + "/?", f"{object_type}.create", bind(create_object))
        emu.route("POST", base + "/search", f"{object_type}.search", bind(search_objects))
        emu.route("POST", base + "/merge", f"{object_type}.merge", bind(merge_objects))
        for action in batch_api.ACTIONS:
            emu.route("POST", f"{base}/batch/{action}", f"{object_type}.batch_{action}",
                      bind(batch_api.handler(action)))
        item = base + "/(?P<id>[^/]+)"
        emu.route("GET", item, f"{object_type}.get", bind(get_object))
        emu.route("PATCH", item, f"{object_type}.update", bind(update_object))
        emu.route("DELETE", item, f"{object_type}.archive", bind(archive_object))


# ----- small helpers --------------------------------------------------------------------------------
def requested_properties(emu: HubSpotEmulator, object_type: str, request: Request) -> list[str]:
    if any(request.query.get("propertiesWithHistory", [])):
        raise BadInput("propertiesWithHistory is not supported by the sandbox (it keeps no value history)")
    names = [name for value in request.query.get("properties", []) for name in value.split(",") if name]
    return emu.known(object_type, names) if names else list(emu.default_properties(object_type))


def flag(request: Request, name: str) -> bool:
    return (request.arg(name) or "false").lower() == "true"


def invalid(message: str) -> Response:
    return Response(400, error_body(message, "VALIDATION_ERROR"))


def property_errors_response(errors: list[Any]) -> Response:
    return Response(400, error_body(errors_message(errors), "VALIDATION_ERROR", errors=error_details(errors)))


def not_found(object_type: str, record_id: str) -> Response:
    return Response(404, error_body(f"Object not found.  objectId are usually numeric. ({object_type} {record_id})",
                                    "OBJECT_NOT_FOUND", context={"id": [record_id]}))


def find(emu: HubSpotEmulator, object_type: str, key: str, id_property: str | None,
         archived: bool = False) -> Record | None:
    store = emu.stores[object_type]
    if id_property in (None, "", "hs_object_id"):
        record = store.records.get(key)
    elif id_property == "email" and object_type == "contacts":
        record = store.by_email(key)
    else:
        record = next((r for r in store.records.values() if r.props.get(id_property) == key), None)
    if record is None or record.archived != archived:
        return None
    return record


def create_record(emu: HubSpotEmulator, object_type: str, values: dict[str, str]) -> Record:
    """Create a validated record; raises Conflict on a duplicate contact email."""
    store = emu.stores[object_type]
    email = values.get("email")
    if object_type == "contacts" and email:
        existing = store.by_email(email)
        if existing is not None:
            raise Conflict(existing.id)
    now = emu.now_ms()
    record_id = store.new_id()
    record = Record(record_id, int(record_id), {k: v for k, v in values.items() if v != ""}, now, now)
    store.add(record)
    return record


def update_record(emu: HubSpotEmulator, object_type: str, record: Record, values: dict[str, str]) -> None:
    """Apply a validated API update: lifecycle rule, email uniqueness, modify time on change."""
    store = emu.stores[object_type]
    if object_type == "contacts":
        values = drop_backward_stage(record.props.get("lifecyclestage"), values)
        email = values.get("email")
        other = store.by_email(email) if email else None
        if other is not None and other.id != record.id:
            raise Conflict(other.id)
    store.apply(record, values, emu.now_ms())


# ----- handlers -------------------------------------------------------------------------------------
def list_objects(emu: HubSpotEmulator, object_type: str, request: Request) -> Response:
    try:
        limit = int(request.arg("limit") or 10)
        after = int(request.arg("after") or 0)
    except ValueError:
        return invalid("limit and after must be integers")
    if not 0 < limit <= LIST_MAX:
        return invalid(f"limit must be between 1 and {LIST_MAX}, got {limit}")
    archived = flag(request, "archived")
    names = requested_properties(emu, object_type, request)
    records, next_num = emu.stores[object_type].page_by_id(after, limit, archived)
    results = [r.to_json(names) for r in records]
    wanted = [name for value in request.query.get("associations", []) for name in value.split(",") if name]
    for record, result in zip(records, results, strict=True) if wanted else ():
        block = associations_of(emu, object_type, record.id, wanted)
        if block:  # HubSpot leaves the key out for records without any
            result["associations"] = block
    body: dict[str, Any] = {"results": results}
    if next_num is not None:
        link = f"/crm/v3/objects/{object_type}?limit={limit}&after={next_num}&archived={str(archived).lower()}"
        body["paging"] = {"next": {"after": str(next_num), "link": emu.link(link)}}
    return Response(200, body)


def get_object(emu: HubSpotEmulator, object_type: str, request: Request) -> Response:
    key = request.params["id"]
    record = find(emu, object_type, key, request.arg("idProperty"), flag(request, "archived"))
    if record is None:
        return not_found(object_type, key)
    body = record.to_json(requested_properties(emu, object_type, request))
    wanted = [name for value in request.query.get("associations", []) for name in value.split(",") if name]
    block = associations_of(emu, object_type, record.id, wanted) if wanted else {}
    if block:
        body["associations"] = block
    return Response(200, body)


def associations_of(emu: HubSpotEmulator, object_type: str, record_id: str, wanted: list[str]) -> dict[str, Any]:
    """The v3 ``associations`` block of a get: ``{"calls": {"results": [{"id", "type"}]}}``, non-empty only."""
    from leadsync.sandbox.hubspot.emulator import canonical_type

    block: dict[str, Any] = {}
    for name in wanted:
        other = canonical_type(name)
        if other is None:
            continue
        targets = emu.associations.targets(object_type, record_id, other)
        if targets:
            label = f"{ASSOCIATION_NAMES[object_type]}_to_{ASSOCIATION_NAMES[other]}"
            block[other] = {"results": [{"id": target, "type": label} for target in targets]}
    return block


def create_object(emu: HubSpotEmulator, object_type: str, request: Request) -> Response:
    body = body_of(request)
    values, errors = validate(emu.definitions(object_type), body.get("properties", {}), emu.owner_ids())
    if errors:
        return property_errors_response(errors)
    problem = check_associations(emu, object_type, body.get("associations") or [])
    if problem is not None:
        return invalid(problem)
    try:
        record = create_record(emu, object_type, values)
    except Conflict as exc:
        return Response(409, error_body(str(exc), "CONFLICT"))
    apply_associations(emu, object_type, record.id, body.get("associations") or [])
    names = sorted({*emu.default_properties(object_type), *values})
    return Response(201, record.to_json(names))


def update_object(emu: HubSpotEmulator, object_type: str, request: Request) -> Response:
    key = request.params["id"]
    record = find(emu, object_type, key, request.arg("idProperty"))
    if record is None:
        return not_found(object_type, key)
    body = body_of(request)
    values, errors = validate(emu.definitions(object_type), body.get("properties", {}), emu.owner_ids())
    if errors:
        return property_errors_response(errors)
    try:
        update_record(emu, object_type, record, values)
    except Conflict as exc:
        return Response(409, error_body(str(exc), "CONFLICT"))
    return Response(200, record.to_json(sorted({*emu.default_properties(object_type), *values})))


def archive_object(emu: HubSpotEmulator, object_type: str, request: Request) -> Response:
    record = emu.stores[object_type].live(request.params["id"])
    if record is not None:
        emu.stores[object_type].archive(record, emu.now_ms())
    return Response(204)  # HubSpot answers 204 for unknown ids too


def merge_objects(emu: HubSpotEmulator, object_type: str, request: Request) -> Response:
    if object_type != "contacts":
        return invalid(f"merging {object_type} is not supported by the sandbox")
    body = body_of(request)
    primary, secondary = str(body.get("primaryObjectId", "")), str(body.get("objectIdToMerge", ""))
    if not primary or not secondary or primary == secondary:
        return invalid("primaryObjectId and objectIdToMerge must be two different ids")
    for record_id in (primary, secondary):
        if emu.stores["contacts"].live(record_id) is None:
            return not_found("contacts", record_id)
    survivor = emu.merge_contacts(primary, secondary)
    return Response(200, survivor.to_json([*emu.default_properties("contacts"), "hs_merged_object_ids"]))


def search_objects(emu: HubSpotEmulator, object_type: str, request: Request) -> Response:
    try:
        spec = parse_search(body_of(request), emu.definitions(object_type), emu.default_properties(object_type))
    except (SearchError, ValueError) as exc:
        return invalid(str(exc))
    if spec.after >= RESULT_CAP:
        return invalid(f"The search API cannot page past {RESULT_CAP} results (after={spec.after}); "
                       "narrow the query instead")
    endpoint = f"{object_type}.search"
    lag_fault = emu.faults.take(endpoint, {"hs_index_lag"})
    lag = float(lag_fault.params.get("seconds", 0)) if lag_fault else emu.index_lag_seconds
    # Without a lag nothing is hidden, even records stamped "in the future" by a clock moved back.
    visible_until = emu.now_ms() - int(lag * 1000) if lag > 0 else 2**62
    matches = emu.search_engines[object_type].matches(spec, visible_until)
    size = spec.limit
    short_fault = emu.faults.take(endpoint, {"hs_short_page"})
    if short_fault is not None:
        size = min(size, int(short_fault.params.get("size", 0)))
    elif emu.short_page_rate and emu.random.random() < emu.short_page_rate:
        size = emu.random.randrange(0, spec.limit)
    page = matches[spec.after:spec.after + size]
    names = emu.known(object_type, spec.properties)
    body: dict[str, Any] = {"total": len(matches), "results": [r.to_json(names) for r in page]}
    next_after = spec.after + len(page)
    if next_after < len(matches):
        body["paging"] = {"next": {"after": str(next_after)}}
    return Response(200, body)


def check_associations(emu: HubSpotEmulator, object_type: str, associations: list[Any]) -> str | None:
    """Why the ``associations`` of a create input are unusable, or None (engagements link to contacts)."""
    for item in associations:
        try:
            target = str(item["to"]["id"])
        except (KeyError, TypeError):
            return f"each association needs to.id, got {item!r}"
        if object_type == "contacts":
            return "the sandbox links contacts to engagements from the engagement side"
        if emu.stores["contacts"].live(target) is None:
            return f"association target contact {target} does not exist"
    return None


def apply_associations(emu: HubSpotEmulator, object_type: str, record_id: str, associations: list[Any]) -> None:
    for item in associations:
        emu.associations.link(object_type, record_id, "contacts", str(item["to"]["id"]))
        contact = emu.stores["contacts"].live(str(item["to"]["id"]))
        if contact is not None:
            emu.note_activity(contact)
