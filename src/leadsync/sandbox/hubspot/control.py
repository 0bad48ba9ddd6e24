"""HubSpot-specific control routes, for tools driving a sandbox in another process (``sandbox serve``).

Loopback test tooling like the base control endpoint (no auth, not counted):
  ``POST /__control/hubspot/property`` ``{"objectType", "name", "readOnly"?, "removeOptions"?, "addOptions"?}``
  (``addOptions`` as ``[[value, label], ...]``);
  ``POST /__control/hubspot/index-lag`` ``{"seconds"}``;
  ``POST /__control/hubspot/limits`` ``{"burstPer10s"?, "dailyLimit"?, "searchPerSecond"?}`` (missing: off);
  ``POST /__control/hubspot/act`` ``{"action", "args": {...}}`` runs one "act as a user" call, e.g.
  ``{"action": "log_call", "args": {"contact_id": "12", "disposition": "connected", "when": "2026-01-05T10:00:00Z"}}``;
  the answer is ``{"result": ...}`` (ids, or the record's properties).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from leadsync.sandbox.hubspot.store import Record
from leadsync.sandbox.server import Request, Response

if TYPE_CHECKING:
    from leadsync.sandbox.hubspot.emulator import HubSpotEmulator

ACTIONS = ("create_contact", "update_contact", "set_owner", "archive_contact", "merge_contacts", "log_call",
           "log_email", "log_meeting", "log_note", "log_task", "submit_form", "page_view")


def install(emu: HubSpotEmulator) -> None:
    def guarded(handler: Any) -> Any:
        def run(request: Request) -> Response:
            try:
                body = request.json() or {}
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
                return handler(emu, body)  # type: ignore[no-any-return]
            except (ValueError, KeyError, TypeError) as exc:
                return Response(400, {"message": f"{type(exc).__name__}: {exc}"})
        return run

    emu.route("POST", "/__control/hubspot/property", "control.hs_property", guarded(change_property))
    emu.route("POST", "/__control/hubspot/index-lag", "control.hs_index_lag", guarded(set_index_lag))
    emu.route("POST", "/__control/hubspot/limits", "control.hs_limits", guarded(set_limits))
    emu.route("POST", "/__control/hubspot/act", "control.hs_act", guarded(act))


def change_property(emu: HubSpotEmulator, body: dict[str, Any]) -> Response:
    emu.change_property(str(body["objectType"]), str(body["name"]), read_only=body.get("readOnly"),
                        remove_options=tuple(body.get("removeOptions", ())),
                        add_options=tuple((str(v), str(label)) for v, label in body.get("addOptions", ())))
    return Response(204)


def set_index_lag(emu: HubSpotEmulator, body: dict[str, Any]) -> Response:
    emu.set_index_lag(float(body["seconds"]))
    return Response(204)


def set_limits(emu: HubSpotEmulator, body: dict[str, Any]) -> Response:
    emu.set_limits(burst_per_10s=body.get("burstPer10s"), daily_limit=body.get("dailyLimit"),
                   search_per_second=body.get("searchPerSecond"))
    return Response(204)


def act(emu: HubSpotEmulator, body: dict[str, Any]) -> Response:
    action = str(body.get("action"))
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    args = dict(body.get("args") or {})
    if args.get("when"):
        moment = datetime.fromisoformat(str(args["when"]).replace("Z", "+00:00"))
        args["when"] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    result = getattr(emu, action)(**args)
    if isinstance(result, Record):
        result = {"id": result.id, "properties": dict(result.props)}
    return Response(200, {"result": result})
