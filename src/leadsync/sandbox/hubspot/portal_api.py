"""Portal-level routes: properties, associations v4 batch read, the events API and owners."""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from leadsync.sandbox.hubspot.objects_api import BadInput, body_of, flag, invalid
from leadsync.sandbox.hubspot.store import ASSOCIATION_TYPE_IDS, Event
from leadsync.sandbox.hubspot.users import FORM_SUBMISSION_EVENT, PAGE_VIEW_EVENT
from leadsync.sandbox.hubspot.wire import batch_error, error_body, format_ms, parse_time
from leadsync.sandbox.server import Request, Response

if TYPE_CHECKING:
    from leadsync.sandbox.hubspot.emulator import HubSpotEmulator

OWNERS_MAX, EVENTS_MAX = 500, 1000
_OWNER_STAMP = "2020-01-01T00:00:00.000Z"


def install(emu: HubSpotEmulator) -> None:
    def locked(handler: Any) -> Any:
        def run(request: Request) -> Response:
            # Path segments arrive percent-encoded (an email as idProperty).
            request.params = {k: unquote(v) for k, v in request.params.items()}
            try:
                with emu.lock:
                    return handler(emu, request)  # type: ignore[no-any-return]
            except BadInput as exc:
                return invalid(str(exc))
        return run

    emu.route("GET", "/crm/v3/properties/(?P<type>[^/]+)/?", "properties.list", locked(list_properties))
    emu.route("GET", "/crm/v3/properties/(?P<type>[^/]+)/(?P<name>[^/]+)", "properties.get", locked(get_property))
    emu.route("POST", "/crm/v4/associations/(?P<from>[^/]+)/(?P<to>[^/]+)/batch/read", "associations.batch_read",
              locked(read_associations))
    emu.route("GET", "/events/v3/events/?", "events.list", locked(list_events))
    emu.route("GET", "/events/v3/events/event-types", "events.types", locked(event_types))
    emu.route("GET", "/crm/v3/owners/?", "owners.list", locked(list_owners))
    emu.route("GET", "/crm/v3/owners/(?P<id>[^/]+)", "owners.get", locked(get_owner))


def _object_type(emu: HubSpotEmulator, name: str) -> str | None:
    from leadsync.sandbox.hubspot.emulator import canonical_type

    return canonical_type(name)


# ----- properties -----------------------------------------------------------------------------------
def _owner_options(emu: HubSpotEmulator) -> list[tuple[str, str]]:
    return [(oid, f"{o.get('firstName', '')} {o.get('lastName', '')}".strip() or str(o.get("email", oid)))
            for oid, o in emu.owners.items() if not o.get("archived")]


def list_properties(emu: HubSpotEmulator, request: Request) -> Response:
    object_type = _object_type(emu, request.params["type"])
    if object_type is None:
        return Response(400, error_body(f"Unable to infer object type from: {request.params['type']}",
                                        "VALIDATION_ERROR"))
    options = _owner_options(emu)
    return Response(200, {"results": [d.to_json(options) for d in emu.definitions(object_type).values()]})


def get_property(emu: HubSpotEmulator, request: Request) -> Response:
    object_type = _object_type(emu, request.params["type"])
    name = request.params["name"]
    definition = emu.definitions(object_type).get(name) if object_type else None
    if definition is None:
        return Response(404, error_body(f"Unable to find property with name {name}", "OBJECT_NOT_FOUND"))
    return Response(200, definition.to_json(_owner_options(emu)))


# ----- associations v4 --------------------------------------------------------------------------------
def read_associations(emu: HubSpotEmulator, request: Request) -> Response:
    from_type, to_type = _object_type(emu, request.params["from"]), _object_type(emu, request.params["to"])
    if from_type is None or to_type is None or (from_type, to_type) not in ASSOCIATION_TYPE_IDS:
        return invalid(f"no association between {request.params['from']} and {request.params['to']}")
    body = body_of(request)
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or len(inputs) > 1000:
        return invalid("inputs must be a list of at most 1000 ids")
    started = emu.now_ms()
    type_id = ASSOCIATION_TYPE_IDS[(from_type, to_type)]
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for item in inputs:
        from_id = str(item.get("id", "")) if isinstance(item, dict) else ""
        targets = emu.associations.targets(from_type, from_id, to_type)
        if not targets:
            error = batch_error("OBJECT_NOT_FOUND", f"No {to_type} is associated with {from_type[:-1]} {from_id}.", [])
            error.update(subCategory="crm.associations.NO_ASSOCIATIONS_FOUND", context={"fromObjectId": [from_id]})
            errors.append(error)
            continue
        results.append({"from": {"id": from_id}, "to": [
            {"toObjectId": int(t), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id,
                                                         "label": None}]} for t in targets]})
    answer: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": format_ms(started),
                              "completedAt": format_ms(emu.now_ms())}
    if errors:
        return Response(207, {**answer, "numErrors": len(errors), "errors": errors})
    return Response(200, answer)


def event_object_type(name: str) -> str:
    """Events name object types in the singular (``contact``); accept the other spellings too."""
    from leadsync.sandbox.hubspot.emulator import canonical_type

    canonical = canonical_type(name)
    return canonical[:-1] if canonical else name.lower()


# ----- events -------------------------------------------------------------------------------------------
def list_events(emu: HubSpotEmulator, request: Request) -> Response:
    """Events of one object (or of every object of a type), oldest first unless ``sort=-occurredAt``."""
    object_type = event_object_type(request.arg("objectType") or "contact")
    object_id = request.arg("objectId")
    try:
        limit = int(request.arg("limit") or 100)
        offset = int(request.arg("after") or 0)
        low = parse_time(request.arg("occurredAfter")) if request.arg("occurredAfter") else None
        high = parse_time(request.arg("occurredBefore")) if request.arg("occurredBefore") else None
    except ValueError as exc:
        return invalid(f"invalid events query: {exc}")
    if not 0 < limit <= EVENTS_MAX:
        return invalid(f"limit must be between 1 and {EVENTS_MAX}")
    if object_id is not None:
        pool: list[Event] = list(emu.events.by_object.get((object_type, object_id), []))
    else:
        pool = emu.events.ordered(object_type)
    # Both pools are in time order: the window is cut by bisection, not by testing every event.
    start = 0 if low is None else bisect.bisect_right(pool, low, key=lambda e: e.occurred_ms)
    end = len(pool) if high is None else bisect.bisect_left(pool, high, key=lambda e: e.occurred_ms)
    event_type = request.arg("eventType")
    chosen = [e for e in pool[start:end] if event_type is None or e.event_type == event_type]
    if "-occurredAt" in request.query.get("sort", []):
        chosen.reverse()
    page = chosen[offset:offset + limit]
    body: dict[str, Any] = {"results": [e.to_json() for e in page]}
    if offset + limit < len(chosen):
        after = str(offset + limit)
        body["paging"] = {"next": {"after": after, "link": emu.link(f"/events/v3/events/?after={after}")}}
    return Response(200, body)


def event_types(emu: HubSpotEmulator, request: Request) -> Response:
    names = sorted({e.event_type for events in emu.events.by_object.values() for e in events}
                   | {PAGE_VIEW_EVENT, FORM_SUBMISSION_EVENT})
    return Response(200, {"eventTypes": names})


# ----- owners ---------------------------------------------------------------------------------------------
def owner_json(owner: dict[str, Any]) -> dict[str, Any]:
    defaults = {"type": "PERSON", "teams": [], "archived": False, "createdAt": _OWNER_STAMP,
                "updatedAt": _OWNER_STAMP, "firstName": "", "lastName": "", "email": ""}
    return {**defaults, **owner}


def list_owners(emu: HubSpotEmulator, request: Request) -> Response:
    try:
        limit = int(request.arg("limit") or 100)
        offset = int(request.arg("after") or 0)
    except ValueError:
        return invalid("limit and after must be integers")
    if not 0 < limit <= OWNERS_MAX:
        return invalid(f"limit must be between 1 and {OWNERS_MAX}")
    archived, email = flag(request, "archived"), request.arg("email")
    owners = [owner_json(o) for o in emu.owners.values() if bool(o.get("archived")) == archived
              and (email is None or str(o.get("email", "")).lower() == email.lower())]
    body: dict[str, Any] = {"results": owners[offset:offset + limit]}
    if offset + limit < len(owners):
        after = str(offset + limit)
        body["paging"] = {"next": {"after": after, "link": emu.link(f"/crm/v3/owners/?after={after}")}}
    return Response(200, body)


def get_owner(emu: HubSpotEmulator, request: Request) -> Response:
    key, id_property = request.params["id"], request.arg("idProperty") or "id"
    archived = flag(request, "archived")
    for owner in emu.owners.values():
        if str(owner.get(id_property)) == key and bool(owner.get("archived")) == archived:
            return Response(200, owner_json(owner))
    return Response(404, error_body(f"Owner {key} not found", "OBJECT_NOT_FOUND"))
