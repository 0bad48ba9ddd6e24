"""``sla.toml``: the business calendar and the SLA clocks, validated into :class:`leadsync.domain.sla.SlaRules`.

Structure and types are checked by strict pydantic models; meaning (time zone, holiday country, opening
hours, activity names, duplicate names) is checked afterwards, and every problem found is reported at
once with its file, line and key. Status names are *not* checked here: the lifecycle file owns them, and
the cross-file check uses :meth:`SlaRules.referenced_statuses` (or :func:`unknown_status_errors`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field

from leadsync.domain.calendar import WEEKDAYS, BusinessCalendar, OpeningInterval
from leadsync.domain.model import ACTIVITY_TYPES
from leadsync.domain.sla import BreachAction, SlaDefinition, SlaRules, Trigger
from leadsync.domain.version import content_version
from leadsync.rules.source import KeyPath, RuleError, RuleSetError, SourceFile, validate

FILE_NAME = "sla.toml"


class _Strict(BaseModel):
    # Strict: a TOML string is not silently read as a number or a date.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class WorkingHoursModel(_Strict):
    monday: list[str]
    tuesday: list[str]
    wednesday: list[str]
    thursday: list[str]
    friday: list[str]
    saturday: list[str]
    sunday: list[str]


class HolidaysModel(_Strict):
    country: str | None = None
    subdivision: str | None = None
    first_year: int = Field(ge=1970, le=2200)
    last_year: int = Field(ge=1970, le=2200)
    extra_closed: list[date] = []
    removed: list[date] = []


class CalendarModel(_Strict):
    time_zone: str
    working_hours: WorkingHoursModel
    holidays: HolidaysModel


class TriggerModel(_Strict):
    statuses: list[str] = []
    activities: list[str] = []


class SlaModel(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    start: TriggerModel
    stop: TriggerModel = TriggerModel()
    restart: TriggerModel = TriggerModel()
    within_business_hours: float = Field(gt=0)
    warn_at_percent: float | None = Field(default=None, gt=0, lt=100)
    on_breach: list[Literal["write_fields", "notify", "return_to_pool"]] = []


class SlaFile(_Strict):
    calendar: CalendarModel
    sla: list[SlaModel] = []


def load(data: dict[str, Any], source: SourceFile) -> SlaRules:
    """Validate a parsed ``sla.toml``; :class:`RuleSetError` lists every problem found."""
    model = validate(SlaFile, data, source)
    errors: list[RuleError] = []
    calendar = _calendar(model.calendar, source, errors)
    definitions = _definitions(model.sla, source, errors)
    if errors or calendar is None:
        raise RuleSetError(errors)
    return SlaRules(calendar=calendar, definitions=definitions, version=content_version({FILE_NAME: data}))


def unknown_status_errors(rules: SlaRules, known: Collection[str], source: SourceFile) -> list[RuleError]:
    """A located error for every status a clock names that the lifecycle file does not define."""
    return [
        source.error(path, f"unknown lifecycle status {status!r}")
        for status, path in rules.status_paths()
        if status not in known
    ]


# ---- calendar ----------------------------------------------------------------------------------------


def _calendar(model: CalendarModel, source: SourceFile, errors: list[RuleError]) -> BusinessCalendar | None:
    here: KeyPath = ("calendar",)
    tz = _zone(model.time_zone, source, errors)
    week = _weekly_hours(model.working_hours, source, errors)
    closed = _closed_dates(model.holidays, source, errors)
    if tz is None or week is None or closed is None:
        return None
    try:
        until = date(model.holidays.last_year, 12, 31) if model.holidays.country is not None else None
        return BusinessCalendar(tz, week, closed, holidays_until=until)
    except ValueError as exc:  # what the per-field checks cannot see, said in the domain's words
        errors.append(source.error(here, str(exc)))
        return None


def _zone(name: str, source: SourceFile, errors: list[RuleError]) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(source.error(("calendar", "time_zone"), f"unknown time zone {name!r} (use an IANA name)"))
        return None


def _weekly_hours(
    model: WorkingHoursModel, source: SourceFile, errors: list[RuleError]
) -> tuple[tuple[OpeningInterval, ...], ...] | None:
    week: list[tuple[OpeningInterval, ...]] = []
    ok = True
    for day in WEEKDAYS:
        intervals: list[OpeningInterval] = []
        for index, text in enumerate(getattr(model, day)):
            path: KeyPath = ("calendar", "working_hours", day, index)
            try:
                interval = OpeningInterval.parse(text)
            except ValueError as exc:
                errors.append(source.error(path, str(exc)))
                ok = False
                continue
            if intervals and interval.start < intervals[-1].end:
                errors.append(source.error(path, f"{interval} overlaps or comes before {intervals[-1]}"))
                ok = False
            intervals.append(interval)
        week.append(tuple(intervals))
    if ok and not any(week):
        errors.append(source.error(("calendar", "working_hours"), "no working hours on any day"))
        ok = False
    return tuple(week) if ok else None


def _closed_dates(model: HolidaysModel, source: SourceFile, errors: list[RuleError]) -> frozenset[date] | None:
    here: KeyPath = ("calendar", "holidays")
    if model.last_year < model.first_year:
        errors.append(source.error((*here, "last_year"), f"last_year {model.last_year} is before first_year"))
        return None
    public = _public_holidays(model, source, errors)
    if public is None:
        return None
    ok = True
    for index, day in enumerate(model.removed):
        if day not in public:
            # A typo here would silently keep a holiday closed; say so instead.
            errors.append(source.error((*here, "removed", index), f"{day} is not a public holiday in this calendar"))
            ok = False
    return (public - set(model.removed)) | set(model.extra_closed) if ok else None


def _public_holidays(model: HolidaysModel, source: SourceFile, errors: list[RuleError]) -> frozenset[date] | None:
    here: KeyPath = ("calendar", "holidays")
    if model.country is None:
        if model.subdivision is not None:
            errors.append(source.error((*here, "subdivision"), "a subdivision needs a country"))
            return None
        return frozenset()
    supported = holidays.list_supported_countries()
    if model.country not in supported:
        errors.append(source.error((*here, "country"), f"unknown holiday country {model.country!r} (ISO 3166 code)"))
        return None
    if model.subdivision is not None and model.subdivision not in supported[model.country]:
        choices = ", ".join(supported[model.country])
        message = f"unknown subdivision {model.subdivision!r} of {model.country} (one of: {choices})"
        errors.append(source.error((*here, "subdivision"), message))
        return None
    years = range(model.first_year, model.last_year + 1)
    return frozenset(holidays.country_holidays(model.country, subdiv=model.subdivision, years=years))


# ---- clocks ------------------------------------------------------------------------------------------


def _definitions(models: list[SlaModel], source: SourceFile, errors: list[RuleError]) -> tuple[SlaDefinition, ...]:
    definitions: list[SlaDefinition] = []
    seen: set[str] = set()
    for index, model in enumerate(models):
        here: KeyPath = ("sla", index)
        if model.name in seen:
            errors.append(source.error((*here, "name"), f"duplicate SLA name {model.name!r}"))
        seen.add(model.name)
        triggers = {part: _trigger(getattr(model, part), (*here, part), source, errors) for part in _PARTS}
        within = timedelta(hours=model.within_business_hours)
        warn = within * (model.warn_at_percent / 100) if model.warn_at_percent is not None else None
        try:
            definitions.append(
                SlaDefinition(
                    name=model.name,
                    start=triggers["start"],
                    stop=triggers["stop"],
                    restart=triggers["restart"],
                    within=within,
                    warn_after=warn,
                    on_breach=frozenset(BreachAction(action) for action in model.on_breach),
                    description=model.description,
                )
            )
        except ValueError as exc:  # nothing starts or stops the clock, or a warning that rounds to nothing
            errors.append(source.error(here, str(exc)))
    return tuple(definitions)


_PARTS = ("start", "stop", "restart")


def _trigger(model: TriggerModel, here: KeyPath, source: SourceFile, errors: list[RuleError]) -> Trigger:
    for index, activity in enumerate(model.activities):
        if activity not in ACTIVITY_TYPES:
            message = f"unknown activity type {activity!r} (one of: {', '.join(sorted(ACTIVITY_TYPES))})"
            errors.append(source.error((*here, "activities", index), message))
    return Trigger(statuses=tuple(model.statuses), activities=tuple(model.activities))
