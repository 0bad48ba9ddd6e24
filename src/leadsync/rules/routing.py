"""``routing.toml``: queues of reps (by email) with weights and capacities, segment rules, and the pool.

``[pool]`` (optional) names who owns a lead the SLA sweep returned to the pool: ``salesforce_owner_id``, a
Salesforce queue id (``00G``) or user id (``005``), 15 or 18 characters; ``hubspot_owner_id``, a HubSpot
owner id (digits) or ``""`` to clear the owner; ``salesforce_status``, the Lead status a returned lead gets
(required: the status the rep set when accepting would otherwise read as the next rep's acceptance).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadsync.domain.lifecycle import LifecycleRules, Role
from leadsync.domain.model import PERSON_FIELDS
from leadsync.domain.routing import Condition, PoolOwner, Queue, QueueMember, RoutingRule, RoutingRules
from leadsync.domain.version import content_version
from leadsync.rules.source import RuleError, RuleSetError, SourceFile, validate

FILE_NAME = "routing.toml"
_SF_POOL_OWNER = re.compile(r"^(00G|005)[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemberModel(_Strict):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    weight: int = Field(default=1, ge=1, le=100)
    capacity: int | None = Field(default=None, ge=0)


class QueueModel(_Strict):
    name: str = Field(min_length=1)
    members: list[MemberModel]


class ConditionModel(_Strict):
    field: str
    any_of: list[str] = []
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _something_to_test(self) -> ConditionModel:
        if not self.any_of and self.min is None and self.max is None:
            raise ValueError("a condition needs any_of, min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        return self


class RuleModel(_Strict):
    name: str = Field(min_length=1)
    queue: str
    when: list[ConditionModel] = Field(min_length=1)


class PoolModel(_Strict):
    salesforce_owner_id: str
    hubspot_owner_id: str = ""
    salesforce_status: str


class RoutingFile(_Strict):
    default_queue: str
    queues: list[QueueModel] = Field(min_length=1)
    rules: list[RuleModel] = []
    pool: PoolModel | None = None


def load(data: dict[str, Any], source: SourceFile) -> RoutingRules:
    parsed = validate(RoutingFile, data, source)
    errors = []
    names = [q.name for q in parsed.queues]
    for index, name in enumerate(names):
        if names.index(name) != index:
            errors.append(source.error(("queues", index, "name"), f"queue {name!r} is defined twice"))
    for index, queue in enumerate(parsed.queues):
        emails = [m.email.lower() for m in queue.members]
        if len(set(emails)) != len(emails):
            errors.append(source.error(("queues", index, "members"), f"queue {queue.name!r} lists a rep twice"))
    if parsed.default_queue not in names:
        errors.append(source.error(("default_queue",), f"no queue named {parsed.default_queue!r}"))
    for index, rule in enumerate(parsed.rules):
        if rule.queue not in names:
            errors.append(source.error(("rules", index, "queue"), f"no queue named {rule.queue!r}"))
        for cond_index, cond in enumerate(rule.when):
            if cond.field not in PERSON_FIELDS:
                errors.append(source.error(("rules", index, "when", cond_index, "field"),
                                           f"unknown person field {cond.field!r}"))
    if parsed.pool is not None:
        errors += _pool_errors(parsed.pool, source)
    if errors:
        raise RuleSetError(errors)
    return RoutingRules(
        queues={q.name: Queue(q.name, tuple(QueueMember(m.email.lower(), m.weight, m.capacity) for m in q.members))
                for q in parsed.queues},
        rules=tuple(
            RoutingRule(
                name=r.name, queue=r.queue,
                conditions=tuple(Condition(c.field, tuple(v.strip().lower() for v in c.any_of), c.min, c.max)
                                 for c in r.when),
                where=f"{source.name}:{source.line_of(('rules', i))}",
            )
            for i, r in enumerate(parsed.rules)
        ),
        default_queue=parsed.default_queue,
        version=content_version({FILE_NAME: data}),
        pool=None if parsed.pool is None else PoolOwner(
            parsed.pool.salesforce_owner_id, parsed.pool.hubspot_owner_id, parsed.pool.salesforce_status.strip()),
    )


def _pool_errors(pool: PoolModel, source: SourceFile) -> list[RuleError]:
    errors = []
    if not _SF_POOL_OWNER.match(pool.salesforce_owner_id):
        errors.append(source.error(("pool", "salesforce_owner_id"),
                                   f"{pool.salesforce_owner_id!r} is not a Salesforce queue id (00G...) or user id "
                                   "(005...) of 15 or 18 characters"))
    if not pool.hubspot_owner_id.isdigit() and pool.hubspot_owner_id != "":
        errors.append(source.error(("pool", "hubspot_owner_id"),
                                   f"{pool.hubspot_owner_id!r} is not a HubSpot owner id (digits), nor \"\" to clear "
                                   "the owner"))
    if not pool.salesforce_status.strip():
        errors.append(source.error(("pool", "salesforce_status"),
                                   "a returned lead needs a status (e.g. \"Open - Not Contacted\"): the one its rep "
                                   "set would read as the next rep's acceptance"))
    return errors


def pool_status_errors(rules: RoutingRules, lifecycle: LifecycleRules, source: SourceFile) -> list[RuleError]:
    """The pool's Salesforce status must leave a returned lead where the sweep put it: a status that enters
    a stage above MQL would read as acceptance again, and a disqualify or recycle status would keep it from
    ever re-qualifying."""
    if rules.pool is None:
        return []
    status = rules.pool.salesforce_status
    mql_rank = lifecycle.first(Role.MQL).rank or 0
    moves = [s.name for s in lifecycle.statuses if s.rank is not None and s.rank > mql_rank
             and status in s.enter.crm_status]
    if status in lifecycle.disqualify.crm_status_reasons:
        moves.append("Disqualified")
    if status in lifecycle.recycle.crm_status:
        moves.append("Recycled (for good)")
    if not moves:
        return []
    return [source.error(("pool", "salesforce_status"),
                         f"{status!r} moves a returned lead to {', '.join(moves)} in lifecycle.toml; use a status "
                         "that means unworked (e.g. \"Open - Not Contacted\")")]

