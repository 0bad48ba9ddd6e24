"""The HubSpot emulator: CRM v3 objects, search, batch, properties, associations v4, events, owners.

Serves what ``hubspot-api-client`` sends, unchanged (``HubSpot(access_token=..., host=base_url,
ssl_ca_cert=ca_path)``). State lives in :mod:`.store`; routes are in :mod:`.objects_api` and
:mod:`.portal_api`; the "act as a user" API is :class:`.users.UserActions`.

Emulator-specific fault kinds (``emulator.faults.add(kind=..., endpoint=..., params=...)``):
- ``hs_batch_error``: on batch create/update/upsert/read, the inputs whose id (for create: the email) is
  in ``params["ids"]`` fail (not applied) with ``params["category"]`` (default ``"VALIDATION_ERROR"``),
  ``params["message"]`` and ``params["status"]`` (the error entry's status string, default ``"error"``);
  the answer becomes a 207 (batch archive answers 204 and takes no per-record faults);
- ``hs_index_lag``: the matching search calls see an index lag of ``params["seconds"]``;
- ``hs_short_page``: the matching search calls return at most ``params["size"]`` (default 0) results,
  still with a next cursor.

HTTP control routes for these and for the user API: :mod:`.control`.

``load_org(objects)`` takes the synthetic org: ``"owners"`` as the owners API returns them;
``"contacts"``, ``"calls"``, ``"emails"``, ``"meetings"``, ``"notes"``, ``"tasks"`` as
``{"id", "properties", "createdAt", "updatedAt", "archived"}`` (system properties such as
``createdate``/``lastmodifieddate`` come from the timestamps); ``"events"`` as
``{"objectType": "contact", "objectId", "eventType", "occurredAt", "properties"}``; ``"associations"`` as
``{"from_type", "from_id", "to_type", "to_id"}``. Unknown property names are refused (a generator/emulator
mismatch must not pass silently); values are taken as given, bad data included.

Fidelity choices where HubSpot's behaviour is not pinned down by its docs are stated where they are
made: search ordering and operators in :mod:`.search`, the lifecycle rule in :mod:`.writes`, batch
shapes in :mod:`.batch_api`.
"""

from __future__ import annotations

import random
from typing import Any

from leadsync.sandbox.faults import Fault
from leadsync.sandbox.hubspot import control, objects_api, portal_api
from leadsync.sandbox.hubspot.limits import RateLimits
from leadsync.sandbox.hubspot.portal_api import event_object_type
from leadsync.sandbox.hubspot.properties import (
    DEFAULT_PROPERTIES,
    ENGAGEMENT_DEFAULTS,
    PropertyDef,
    contact_definitions,
    engagement_definitions,
)
from leadsync.sandbox.hubspot.search import SearchEngine
from leadsync.sandbox.hubspot.store import Associations, Event, EventLog, ObjectStore, Record
from leadsync.sandbox.hubspot.users import UserActions
from leadsync.sandbox.hubspot.wire import error_body, parse_time, to_ms
from leadsync.sandbox.server import Emulator, Request, Response, SandboxClock

OBJECT_TYPES = ("contacts", "calls", "emails", "meetings", "notes", "tasks")
ENGAGEMENT_TYPES = OBJECT_TYPES[1:]
# Accepted spellings of each object type in paths: plural, singular and HubSpot's object type id.
TYPE_ALIASES = {
    "contacts": ("contacts", "contact", "0-1"), "calls": ("calls", "call", "0-48"),
    "emails": ("emails", "email", "0-49"), "meetings": ("meetings", "meeting", "0-47"),
    "notes": ("notes", "note", "0-46"), "tasks": ("tasks", "task", "0-27"),
}
HS_BATCH_ERROR, HS_INDEX_LAG, HS_SHORT_PAGE = "hs_batch_error", "hs_index_lag", "hs_short_page"
_CATEGORY_BY_CODE = {"NOT_FOUND": "OBJECT_NOT_FOUND", "METHOD_NOT_ALLOWED": "VALIDATION_ERROR"}
_AUTH_MESSAGE = ("Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                 "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")


def canonical_type(name: str) -> str | None:
    for object_type, aliases in TYPE_ALIASES.items():
        if name.lower() in aliases:
            return object_type
    return None


class HubSpotEmulator(UserActions, Emulator):
    system = "hubspot"

    def __init__(self, token: str = "sandbox-hubspot-token", *,  # noqa: S107 - a sandbox token, not a secret
                 burst_per_10s: int | None = 190,
                 daily_limit: int | None = 650_000, search_per_second: int | None = 5,
                 index_lag_seconds: float = 0.0, short_page_rate: float = 0.0, seed: int = 0,
                 clock: SandboxClock | None = None) -> None:
        """A portal answering to ``Bearer {token}``. Limits default to a Professional private app
        (190 calls per rolling 10 s, 650,000 a day, 5 searches a second); ``None`` turns one off.
        ``index_lag_seconds`` hides records modified that recently from search (not from get/list);
        ``short_page_rate`` is the chance, drawn from ``seed``, that a search page comes back short
        while still carrying its cursor."""
        super().__init__(clock)
        self.token = token
        self.limits = RateLimits(self.clock, burst_per_10s, daily_limit, search_per_second)
        self.index_lag_seconds = index_lag_seconds
        self.short_page_rate = short_page_rate
        self.random = random.Random(seed)
        self.stores: dict[str, ObjectStore] = {
            "contacts": ObjectStore("contacts", contact_definitions()),
            **{t: ObjectStore(t, engagement_definitions(t)) for t in ENGAGEMENT_TYPES},
        }
        self.search_engines = {t: SearchEngine(store) for t, store in self.stores.items()}
        self.associations = Associations()
        self.events = EventLog()
        self.owners: dict[str, dict[str, Any]] = {}
        self._event_seq = 0
        objects_api.install(self)
        portal_api.install(self)
        control.install(self)

    # ----- hooks of the base server ---------------------------------------------------------------
    def authorize(self, request: Request, endpoint: str) -> Response | None:
        header = request.header("authorization") or ""
        if header != f"Bearer {self.token}":
            return Response(401, error_body(_AUTH_MESSAGE, "INVALID_AUTHENTICATION"))
        rejection = self.limits.admit(search=endpoint.endswith(".search"))
        if rejection is None:
            return None
        body = {"status": "error", "message": rejection.message, "errorType": "RATE_LIMIT",
                "correlationId": error_body("", "")["correlationId"], "policyName": rejection.policy,
                "groupName": f"publicapi:private-app:{rejection.policy.lower()}"}
        return Response(429, body, {"Retry-After": str(rejection.retry_after)})

    def decorate(self, response: Response, endpoint: str) -> None:
        # Search answers carry no X-HubSpot-RateLimit headers on the real API (its limit is separate).
        if response.status != 429 and not endpoint.endswith(".search"):
            response.headers.update(self.limits.headers())

    def error_response(self, status: int, code: str, message: str) -> Response:
        return Response(status, error_body(message, _CATEGORY_BY_CODE.get(code, code)))

    def fault_response(self, fault: Fault) -> Response:
        if fault.body is None and fault.status == 429:
            fault = Fault(**{**fault.to_json(), "body": {
                "status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT", "correlationId": error_body("", "")["correlationId"],
                "policyName": "TEN_SECONDLY_ROLLING"}})
        elif fault.body is None:
            fault = Fault(**{**fault.to_json(), "body": error_body("injected fault", "INTERNAL_ERROR")})
        return super().fault_response(fault)

    # ----- helpers shared by the route modules ----------------------------------------------------
    def now_ms(self) -> int:
        return to_ms(self.clock.now())

    def owner_ids(self) -> list[str]:
        return [oid for oid, owner in self.owners.items() if not owner.get("archived")]

    def definitions(self, object_type: str) -> dict[str, PropertyDef]:
        return self.stores[object_type].definitions

    def default_properties(self, object_type: str) -> tuple[str, ...]:
        return DEFAULT_PROPERTIES.get(object_type, ENGAGEMENT_DEFAULTS)

    def known(self, object_type: str, names: list[str] | tuple[str, ...]) -> list[str]:
        """The requested property names that exist (HubSpot leaves unknown ones out of answers)."""
        definitions = self.definitions(object_type)
        return [name for name in names if name in definitions]

    def link(self, path: str) -> str:
        return (self.base_url if self.port is not None else "https://api.hubapi.com") + path

    # ----- configuration at run time --------------------------------------------------------------
    def set_index_lag(self, seconds: float) -> None:
        with self.lock:
            self.index_lag_seconds = seconds

    def set_limits(self, *, burst_per_10s: int | None = None, daily_limit: int | None = None,
                   search_per_second: int | None = None) -> None:
        """Replace the three limits (``None`` disables one) and forget the calls counted so far."""
        self.limits = RateLimits(self.clock, burst_per_10s, daily_limit, search_per_second)

    def change_property(self, object_type: str, name: str, *, read_only: bool | None = None,
                        remove_options: tuple[str, ...] = (), add_options: tuple[tuple[str, str], ...] = ()) -> None:
        """Hostile-org changes to a property definition (an admin edits the portal)."""
        with self.lock:
            definition = self.definitions(object_type)[name]
            if read_only is not None:
                definition.read_only_value = read_only
            missing = set(remove_options) - definition.option_values()
            if missing:
                raise ValueError(f"{object_type}.{name} has no options {sorted(missing)}")
            definition.options = [o for o in definition.options if o[0] not in remove_options] + list(add_options)

    # ----- seeding --------------------------------------------------------------------------------
    def load_org(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        """Seed the portal (the synthetic org generator's output); see the module docs for the shapes."""
        unknown = set(objects) - {*OBJECT_TYPES, "owners", "events", "associations"}
        if unknown:
            raise ValueError(f"load_org: unknown keys {sorted(unknown)}")
        with self.lock:
            for owner in objects.get("owners", []):
                self.owners[str(owner["id"])] = {**owner, "id": str(owner["id"])}
            for object_type in OBJECT_TYPES:
                store = self.stores[object_type]
                defined = store.definitions.keys()
                for position, item in enumerate(objects.get(object_type, [])):
                    record = _seed_record(item, f"{object_type}[{position}]")
                    unknown_names = record.props.keys() - defined
                    if unknown_names:
                        raise ValueError(f"load_org: {object_type}[{position}] has properties the sandbox does not "
                                         f"define: {sorted(unknown_names)}")
                    store.add(record)
            for link in objects.get("associations", []):
                from_type, to_type = canonical_type(link["from_type"]), canonical_type(link["to_type"])
                if from_type is None or to_type is None:
                    raise ValueError(f"load_org: association with unknown type {link!r}")
                self.associations.link(from_type, str(link["from_id"]), to_type, str(link["to_id"]))
            for event in objects.get("events", []):
                self.add_event(event_object_type(str(event["objectType"])), str(event["objectId"]),
                               str(event["eventType"]),
                               parse_time(event["occurredAt"]), dict(event.get("properties") or {}))

    def add_event(self, object_type: str, object_id: str, event_type: str, occurred_ms: int,
                  properties: dict[str, str]) -> Event:
        self._event_seq += 1
        # UUID-shaped like HubSpot's event ids, deterministic for a given load order.
        event = Event(f"{self._event_seq:08x}-0000-4000-8000-{occurred_ms:012x}", object_type, object_id,
                      event_type, occurred_ms, {k: str(v) for k, v in properties.items()})
        self.events.add(event)
        return event


def _seed_record(item: dict[str, Any], where: str) -> Record:
    try:
        record_id = str(item["id"])
        properties = {k: str(v) for k, v in (item.get("properties") or {}).items() if v is not None and v != ""}
        created = parse_time(item.get("createdAt") or properties.get("createdate") or properties["hs_createdate"])
        updated = parse_time(item.get("updatedAt") or created)
        for system in ("createdate", "hs_createdate", "lastmodifieddate", "hs_lastmodifieddate", "hs_object_id"):
            properties.pop(system, None)
        archived = bool(item.get("archived", False))
        return Record(record_id, int(record_id), properties, created, updated, archived,
                      parse_time(item["archivedAt"]) if item.get("archivedAt") else (updated if archived else None))
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"load_org: {where}: {exc!r}") from exc


