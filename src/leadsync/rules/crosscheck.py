"""Checks that span rule files, or need a whole loaded rule set: run after every file loaded on its own.

Each check is a plain function of a :class:`RuleBundle` returning located errors; :data:`CHECKS` lists
them in order, so adding one (the SLA checks, say) means writing a function and appending it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from leadsync.domain.contact_status import ContactStatusRules
from leadsync.domain.fields import FieldMapping, FieldMappings
from leadsync.domain.grades import grade_rank
from leadsync.domain.lifecycle import LifecycleRules, Role, Status, Threshold
from leadsync.rules import fields as fields_file
from leadsync.rules import lifecycle as lifecycle_file
from leadsync.rules.source import RuleError, SourceFile, format_key

# Activities that happen *to* a person (or prove nothing about them): never a real interaction.
NOT_REAL_INTERACTIONS: frozenset[str] = frozenset({"email_open", "page_view", "email_sent", "email_bounce",
                                                    "unsubscribe"})


@dataclass(frozen=True)
class RuleBundle:
    lifecycle: LifecycleRules
    contact_status: ContactStatusRules
    fields: FieldMappings
    sources: dict[str, SourceFile]

    def error(self, file_name: str, path: Sequence[str | int], message: str) -> RuleError:
        source = self.sources.get(file_name)
        if source is None:
            return RuleError(file_name, None, format_key(path), message)
        return source.error(path, message)


Check = Callable[[RuleBundle], list[RuleError]]


def cross_check(lifecycle: LifecycleRules, contact_status: ContactStatusRules, fields: FieldMappings,
                sources: dict[str, SourceFile]) -> list[RuleError]:
    """Every cross-file problem, located; empty when the rule set is consistent. ``sources`` maps each
    file's ``FILE_NAME`` (e.g. ``"fields.toml"``) to its :class:`SourceFile`."""
    bundle = RuleBundle(lifecycle, contact_status, fields, sources)
    return [error for check in CHECKS for error in check(bundle)]


def check_value_maps(bundle: RuleBundle) -> list[RuleError]:
    """Status value maps name only real statuses, and give a value for every one of them."""
    statuses = {
        "lifecycle_status": [s.name for s in bundle.lifecycle.statuses],
        "contact_status": list(bundle.contact_status.statuses),
    }
    errors: list[RuleError] = []
    seen: set[tuple[str | int, ...]] = set()
    for mapping in bundle.fields.outbound_mappings:
        if mapping.value not in statuses or mapping.values is None or mapping.path in seen:
            continue
        seen.add(mapping.path)  # one entry may cover several objects; report it once
        errors += _value_map_errors(bundle, mapping, statuses[mapping.value])
    return errors


def _value_map_errors(bundle: RuleBundle, mapping: FieldMapping, names: list[str]) -> list[RuleError]:
    assert mapping.values is not None
    kind = mapping.value.replace("_", " ")
    where = (*mapping.path, "values")
    errors = [bundle.error(fields_file.FILE_NAME, (*where, key), f"unknown {kind} {key!r} (known: {', '.join(names)})")
              for key in mapping.values if key not in names]
    missing = [name for name in names if name not in mapping.values]
    if missing:
        errors.append(bundle.error(fields_file.FILE_NAME, where, f"{mapping.system.value} {mapping.field} has no "
                                   f"value for {kind} {', '.join(map(repr, missing))}"))
    return errors


def _status_path(rules: LifecycleRules, status: Status) -> tuple[str | int, ...]:
    return ("status", rules.statuses.index(status))


def _thresholds(status: Status) -> list[tuple[tuple[str | int, ...], Threshold]]:
    enter = status.enter
    found: list[tuple[tuple[str | int, ...], Threshold]] = []
    if enter.score_and_grade is not None:
        found.append((("enter", "score_and_grade"), enter.score_and_grade))
    found += [(("enter", "matrix", i), row) for i, row in enumerate(enter.matrix)]
    return found


def _covers(wide: Threshold, narrow: Threshold) -> bool:
    """Everyone ``narrow`` qualifies, ``wide`` qualifies too."""
    return wide.min_score <= narrow.min_score and grade_rank(wide.min_grade) <= grade_rank(narrow.min_grade)


def check_thresholds(bundle: RuleBundle) -> list[RuleError]:
    """Score bars above zero; no matrix row that another row of the same status already covers."""
    rules, errors = bundle.lifecycle, []
    for status in rules.statuses:
        path = _status_path(rules, status)
        found = _thresholds(status)
        for sub, threshold in found:
            if threshold.min_score <= 0:
                errors.append(bundle.error(lifecycle_file.FILE_NAME, (*path, *sub, "min_score"), "min_score must be "
                                           "above 0: a bar at or below zero qualifies people who did nothing"))
        for sub, row in found:
            if sub[1] != "matrix":
                continue
            wider = [other for other_sub, other in found if other_sub != sub and _covers(other, row)
                     and (other != row or other_sub < sub)]
            if wider:
                errors.append(bundle.error(lifecycle_file.FILE_NAME, (*path, *sub), f"this row never decides: "
                                           f"score >= {wider[0].min_score:g} with grade >= {wider[0].min_grade} "
                                           "already qualifies everyone it does"))
    return errors


def check_real_interactions(bundle: RuleBundle) -> list[RuleError]:
    bad = sorted(bundle.lifecycle.real_interaction_types & NOT_REAL_INTERACTIONS)
    if not bad:
        return []
    inquiry = bundle.lifecycle.first(Role.INQUIRY)
    path = (*_status_path(bundle.lifecycle, inquiry), "enter", "real_interaction")
    return [bundle.error(lifecycle_file.FILE_NAME, path, f"{', '.join(bad)} prove no interest (they happen to "
                         "imported records too) and must not count as a real interaction")]


def check_reachable(bundle: RuleBundle) -> list[RuleError]:
    """Every forward status can be the furthest one that holds: it has an entry rule, and not all of its
    rules are implied by a later status's (decide() always moves to the furthest status that holds)."""
    rules, errors = bundle.lifecycle, []
    funnel = rules.funnel()
    for index, status in enumerate(funnel):
        if status.role in (Role.RAW, Role.INQUIRY):
            continue
        path = _status_path(rules, status)
        if status.enter.is_empty():
            errors.append(bundle.error(lifecycle_file.FILE_NAME, path, f"status {status.name!r} is unreachable: "
                                       "it has no entry rule"))
            continue
        later = funnel[index + 1:]
        if later and _all_implied(status, later):
            names = ", ".join(repr(s.name) for s in later)
            errors.append(bundle.error(lifecycle_file.FILE_NAME, path, f"status {status.name!r} is unreachable: "
                                       f"whenever its entry rules hold, a later status ({names}) holds too"))
    return errors


def _all_implied(status: Status, later: Sequence[Status]) -> bool:
    enter = status.enter
    later_thresholds = [t for s in later for _, t in _thresholds(s)]
    later_raises = frozenset().union(*(s.enter.hand_raise for s in later))
    implied = [all(any(_covers(w, t) for w in later_thresholds) for _, t in _thresholds(status)),
               enter.hand_raise <= later_raises,
               not enter.crm_status,  # CRM status values belong to one status only (checked on load)
               not enter.converted or any(s.enter.converted for s in later),
               not enter.open_opportunity or any(s.enter.open_opportunity for s in later),
               not enter.won_opportunity or any(s.enter.won_opportunity for s in later)]
    return all(implied)


CHECKS: list[Check] = [
    check_value_maps,
    check_thresholds,
    check_real_interactions,
    check_reachable,
]
