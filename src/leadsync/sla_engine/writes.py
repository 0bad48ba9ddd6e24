"""Write intents for the SLA fields (``sla_due_at``, ``sla_breached``) on every CRM record of a person.

The intents go to the ledger outbox queued (origin ``sla``, not yet dispatched): the next sync cycle's
apply step sends them in its batches, resolves them after a crash and suppresses their echo. Which fields
exist on which object comes from ``fields.toml`` (only mappings leadsync owns are written).

:func:`queue_pool_owner` queues the owner writes of a lead returned to the pool (origin ``routing``: the
owner is Salesforce's field, and routing's writes are the one recorded exception; see
``leadsync.sync.followup``): the pool's Salesforce owner and Lead status, and its HubSpot owner (or none).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from leadsync.domain.fields import FieldMappings, value_for
from leadsync.domain.model import System
from leadsync.domain.planner import Scalar, value_hash
from leadsync.domain.routing import PoolOwner
from leadsync.ledger import IdentityKind, IntentOrigin, IntentRecord, UnitOfWork, WriteIntent

# Which CRM record each identity kind names.
RECORD_OF: Mapping[IdentityKind, tuple[System, str]] = {
    IdentityKind.SALESFORCE_LEAD: (System.SALESFORCE, "Lead"),
    IdentityKind.SALESFORCE_CONTACT: (System.SALESFORCE, "Contact"),
    IdentityKind.HUBSPOT_CONTACT: (System.HUBSPOT, "contacts"),
}


def wire_value(value: Any) -> Scalar:
    """Intents are stored as JSON: instants become ISO 8601 UTC text (what both CRMs accept)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    assert value is None or isinstance(value, str | int | float | bool)
    return value


def payload_hash(fields: Mapping[str, Scalar]) -> str:
    text = "|".join(f"{name}={value_hash(fields[name])}" for name in sorted(fields))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def queue_sla_fields(uow: UnitOfWork, mappings: FieldMappings, person_id: str, values: Mapping[str, Any],
                     now: datetime, *, run_id: str | None = None) -> list[IntentRecord]:
    """One pending intent per CRM record of the person holding the mapped ``values`` (e.g.
    ``{"sla_breached": True}``); records without a mapped field get none."""
    def fields_of(system: System, obj: str) -> dict[str, Scalar]:
        fields: dict[str, Scalar] = {}
        for name, raw in values.items():
            for mapping in mappings.for_value(name):
                if mapping.system == system and mapping.object == obj and mapping.owned_by_leadsync:
                    fields[mapping.field] = wire_value(value_for(mapping, raw))
        return fields

    return _queue_per_record(uow, person_id, fields_of, now, run_id, IntentOrigin.SLA)


def _queue_per_record(uow: UnitOfWork, person_id: str, fields_of: Callable[[System, str], dict[str, Scalar]],
                      now: datetime, run_id: str | None, origin: IntentOrigin) -> list[IntentRecord]:
    """One queued intent per CRM record of the person for which ``fields_of`` gives fields."""
    record = uow.people.get(person_id)
    if record is None:
        return []
    intents = []
    for identity in sorted(record.identities, key=lambda i: (i.kind.value, i.value)):
        where = RECORD_OF.get(identity.kind)
        if where is None:
            continue
        fields = fields_of(*where)
        if fields:
            intent = WriteIntent(where[0], where[1], identity.value, fields, payload_hash(fields))
            intents.append(uow.outbox.add(intent, now, run_id=run_id, origin=origin))
    return intents


def pool_fields(pool: PoolOwner, system: System, obj: str) -> dict[str, Scalar]:
    """The fields a record of a lead returned to the pool gets (empty: the record keeps its owner)."""
    if system is System.HUBSPOT:
        return {"hubspot_owner_id": pool.hubspot_owner_id}
    if obj == "Lead":
        fields: dict[str, Scalar] = {"OwnerId": pool.salesforce_owner_id}
        if pool.salesforce_status:
            fields["Status"] = pool.salesforce_status
        return fields
    if obj == "Contact" and not pool.salesforce_is_queue:
        return {"OwnerId": pool.salesforce_owner_id}
    return {}  # a queue cannot own a Salesforce Contact


def queue_pool_owner(uow: UnitOfWork, pool: PoolOwner, person_id: str, now: datetime, *,
                     run_id: str | None = None) -> list[IntentRecord]:
    """One queued intent (origin ``routing``) per CRM record of the person that the pool takes over."""
    return _queue_per_record(uow, person_id, lambda system, obj: pool_fields(pool, system, obj), now, run_id,
                             IntentOrigin.ROUTING)
