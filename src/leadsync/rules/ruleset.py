"""Load every rule file in a mappings folder into one validated, versioned :class:`RuleSet`.

Each concern lives in its own file and module (``rules/<concern>.py`` with ``FILE_NAME`` and
``load(data, source)``). Errors from every file are collected before anything is rejected, so an admin
sees all of them at once; cross-file checks run only when each file is valid on its own. Nothing starts
with an invalid rule set: :func:`load_ruleset` either returns a complete one or raises.

The version is one content hash over all files' parsed content: comments and formatting do not change
it, any change of meaning does. It replaces each concern's own version so every score, grade and
transition records the version of the whole set that produced it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadsync.domain.contact_status import ContactStatusRules
from leadsync.domain.fields import FieldMappings
from leadsync.domain.grading import GradingProfile
from leadsync.domain.hygiene import HygieneRules
from leadsync.domain.lifecycle import LifecycleRules
from leadsync.domain.routing import RoutingRules
from leadsync.domain.scoring import ScoringModel
from leadsync.domain.sla import SlaRules
from leadsync.domain.version import content_version
from leadsync.rules import contact_status, fields, grading, hygiene, lifecycle, routing, scoring, sla
from leadsync.rules.crosscheck import cross_check
from leadsync.rules.source import RuleError, RuleSetError, SourceFile, read_toml

# Every concern, in the order errors are reported.
CONCERNS = (scoring, grading, hygiene, lifecycle, contact_status, fields, sla, routing)
KNOWN_FILES = frozenset(module.FILE_NAME for module in CONCERNS)


@dataclass(frozen=True)
class RuleSet:
    version: str
    directory: Path
    scoring: ScoringModel
    grading: GradingProfile
    hygiene: HygieneRules
    lifecycle: LifecycleRules
    contact_status: ContactStatusRules
    fields: FieldMappings
    sla: SlaRules
    routing: RoutingRules
    sources: dict[str, SourceFile]


def _display(directory: Path, name: str) -> str:
    """Name files as an admin would type them: relative to the working directory when possible."""
    path = directory / name
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_ruleset(directory: str | Path) -> RuleSet:
    """Read, validate and cross-check every rule file in ``directory``; raise RuleSetError with all errors."""
    folder = Path(directory)
    if not folder.is_dir():
        raise RuleSetError([RuleError(str(folder), None, "", "not a folder of rule files")])
    errors: list[RuleError] = []
    documents: dict[str, Any] = {}
    loaded: dict[str, Any] = {}
    sources: dict[str, SourceFile] = {}

    for stray in sorted(p.name for p in folder.glob("*.toml") if p.name not in KNOWN_FILES):
        errors.append(RuleError(
            _display(folder, stray), None, "",
            f"unknown rule file (expected one of: {', '.join(sorted(KNOWN_FILES))})",
        ))

    for module in CONCERNS:
        name = module.FILE_NAME
        path = folder / name
        display = _display(folder, name)
        if not path.is_file():
            errors.append(RuleError(display, None, "", "rule file missing"))
            continue
        try:
            data, source = read_toml(path, display)
            sources[name] = source
            loaded[name] = module.load(data, source)
            documents[name] = data
        except RuleSetError as exc:
            errors.extend(exc.errors)

    if errors:
        raise RuleSetError(errors)

    lifecycle_rules: LifecycleRules = loaded[lifecycle.FILE_NAME]
    sla_rules: SlaRules = loaded[sla.FILE_NAME]
    errors.extend(cross_check(
        loaded[lifecycle.FILE_NAME], loaded[contact_status.FILE_NAME], loaded[fields.FILE_NAME], sources,
    ))
    errors.extend(sla.unknown_status_errors(sla_rules, lifecycle_rules.status_names(), sources[sla.FILE_NAME]))
    errors.extend(routing.pool_status_errors(loaded[routing.FILE_NAME], lifecycle_rules, sources[routing.FILE_NAME]))
    if errors:
        raise RuleSetError(errors)

    version = content_version(documents)
    return RuleSet(
        version=version,
        directory=folder,
        scoring=dataclasses.replace(loaded[scoring.FILE_NAME], version=version),
        grading=dataclasses.replace(loaded[grading.FILE_NAME], version=version),
        hygiene=dataclasses.replace(loaded[hygiene.FILE_NAME], version=version),
        lifecycle=dataclasses.replace(lifecycle_rules, version=version),
        contact_status=dataclasses.replace(loaded[contact_status.FILE_NAME], version=version),
        fields=dataclasses.replace(loaded[fields.FILE_NAME], version=version),
        sla=dataclasses.replace(sla_rules, version=version),
        routing=dataclasses.replace(loaded[routing.FILE_NAME], version=version),
        sources=sources,
    )
