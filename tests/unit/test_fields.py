"""Field mappings on the shipped fields.toml, value maps and their cross-file checks, broken copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadsync.domain.contact_status import ContactStatusRules
from leadsync.domain.fields import FieldMapping, FieldMappings, UnmappedValue, possible_values, value_for
from leadsync.domain.grades import GRADES
from leadsync.domain.lifecycle import LifecycleRules
from leadsync.domain.model import PERSON_FIELDS, System
from leadsync.rules import contact_status as contact_status_rules
from leadsync.rules import fields as fields_rules
from leadsync.rules import lifecycle as lifecycle_rules
from leadsync.rules.crosscheck import cross_check
from leadsync.rules.source import RuleSetError, SourceFile, parse_toml

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
TEXT = {name: (MAPPINGS / name).read_text(encoding="utf-8")
        for name in ("fields.toml", "lifecycle.toml", "contact_status.toml")}


def load_all(**overrides: str) -> tuple[LifecycleRules, ContactStatusRules, FieldMappings, dict[str, SourceFile]]:
    texts = {**TEXT, **{f"{key}.toml": text for key, text in overrides.items()}}
    sources: dict[str, SourceFile] = {}
    parsed = {}
    for module in (lifecycle_rules, contact_status_rules, fields_rules):
        data, source = parse_toml(texts[module.FILE_NAME], module.FILE_NAME)
        sources[module.FILE_NAME] = source
        parsed[module.FILE_NAME] = module.load(data, source)
    lifecycle = parsed["lifecycle.toml"]
    contact = parsed["contact_status.toml"]
    fields = parsed["fields.toml"]
    assert isinstance(lifecycle, LifecycleRules) and isinstance(contact, ContactStatusRules)
    assert isinstance(fields, FieldMappings)
    return lifecycle, contact, fields, sources


LIFECYCLE, CONTACT, FIELDS, SOURCES = load_all()


def by_field(system: System, obj: str, field: str) -> FieldMapping:
    (mapping,) = [m for m in FIELDS.outbound(system, obj) if m.field == field]
    return mapping


def line_of(text: str, needle: str, start: int = 1) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if i >= start and needle in line)


def test_shipped_rule_set_is_consistent() -> None:
    assert cross_check(LIFECYCLE, CONTACT, FIELDS, SOURCES) == []


def test_salesforce_lead_and_contact_get_the_default_custom_fields() -> None:
    expected = {"Lead_Score__c": "score", "Lead_Grade__c": "grade", "Lifecycle_Status__c": "lifecycle_status",
                "Contact_Status__c": "contact_status", "Lifecycle_Reason__c": "lifecycle_reason",
                "MQL_Date__c": "mql_at", "SLA_Due__c": "sla_due_at", "SLA_Breached__c": "sla_breached",
                "OwnerId": "owner"}
    for obj in ("Lead", "Contact"):
        mappings = FIELDS.outbound(System.SALESFORCE, obj)
        assert {m.field: m.value for m in mappings} == expected
        owned = {m.field for m in mappings if m.owned_by_leadsync}
        assert owned == set(expected) - {"OwnerId"}
    assert by_field(System.SALESFORCE, "Lead", "OwnerId").owner == "salesforce"


def test_hubspot_properties_and_where() -> None:
    fields = {m.field for m in FIELDS.outbound(System.HUBSPOT, "contacts")}
    assert fields == {"leadsync_score", "leadsync_grade", "lifecyclestage", "hs_lead_status", "leadsync_sla_due",
                      "leadsync_sla_breached"}
    stage = by_field(System.HUBSPOT, "contacts", "lifecyclestage")
    text = TEXT["fields.toml"]
    line = line_of(text, 'field = "lifecyclestage"')
    assert stage.where == f"fields.toml:{line}"
    assert FIELDS.outbound(System.HUBSPOT, "Lead") == ()


def test_value_for_maps_statuses_and_passes_other_values_through() -> None:
    stage = by_field(System.HUBSPOT, "contacts", "lifecyclestage")
    assert value_for(stage, "MQL") == "marketingqualifiedlead"
    assert value_for(stage, "Disqualified") == "other"
    assert value_for(stage, None) is None
    lead_status = by_field(System.HUBSPOT, "contacts", "hs_lead_status")
    assert value_for(lead_status, "Attempting 2") == "ATTEMPTED_TO_CONTACT"
    assert value_for(by_field(System.SALESFORCE, "Lead", "Lead_Score__c"), 87.5) == 87.5
    with pytest.raises(UnmappedValue, match=r"fields\.toml:\d+: hubspot contacts\.lifecyclestage has no value for "
                                            r"lifecycle_status 'MAQL'"):
        value_for(stage, "MAQL")


def test_possible_values_lists_every_writable_option() -> None:
    stage = by_field(System.HUBSPOT, "contacts", "lifecyclestage")
    assert possible_values(stage, LIFECYCLE, CONTACT) == (
        "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "other")
    sf_status = by_field(System.SALESFORCE, "Contact", "Contact_Status__c")
    assert possible_values(sf_status, LIFECYCLE, CONTACT) == (
        "New", "Attempting", "Connected", "Meeting Booked", "Unqualified", "Bad Timing", "Not Interested",
        "Wrong Number")
    assert possible_values(by_field(System.SALESFORCE, "Lead", "Lead_Grade__c"), LIFECYCLE, CONTACT) == GRADES
    assert possible_values(by_field(System.HUBSPOT, "contacts", "leadsync_sla_breached"), LIFECYCLE, CONTACT) == (
        "true", "false")
    assert possible_values(by_field(System.SALESFORCE, "Lead", "Lead_Score__c"), LIFECYCLE, CONTACT) is None


def test_inbound_fields() -> None:
    lead = {m.field: m.person_field for m in FIELDS.inbound(System.SALESFORCE, "Lead")}
    assert {k: lead[k] for k in ("Title", "Company", "Industry", "NumberOfEmployees", "AnnualRevenue", "Country",
                                 "LeadSource")} == {
        "Title": "title", "Company": "company", "Industry": "industry", "NumberOfEmployees": "employees",
        "AnnualRevenue": "annual_revenue", "Country": "country", "LeadSource": "lead_source"}
    hubspot = {m.field: m.person_field for m in FIELDS.inbound(System.HUBSPOT, "contacts")}
    assert hubspot["jobtitle"] == "title" and hubspot["hs_analytics_source"] == "lead_source"
    assert all(m.person_field in PERSON_FIELDS and not m.custom for m in FIELDS.inbound_mappings)


def test_custom_inbound_field_for_grading() -> None:
    text = TEXT["fields.toml"].replace("# [salesforce.inbound.Lead.custom]\n# Buying_Role__c",
                                       "[salesforce.inbound.Lead.custom]\nBuying_Role__c")
    _, _, fields, _ = load_all(fields=text)
    (custom,) = [m for m in fields.inbound(System.SALESFORCE, "Lead") if m.custom]
    assert (custom.field, custom.person_field) == ("Buying_Role__c", "buying_role")
    assert custom.where == f"fields.toml:{line_of(text, 'Buying_Role__c =')}"


# --- cross-file checks --------------------------------------------------------------------------------

def cross_errors(**overrides: str) -> list[str]:
    return [str(e) for e in cross_check(*load_all(**overrides))]


def test_value_map_naming_an_unknown_status_is_located() -> None:
    text = TEXT["fields.toml"].replace('Opportunity = "opportunity"', 'Opportunity = "opportunity"\nMAQL = "lead"')
    errors = cross_errors(fields=text)
    known = "Raw, Inquiry, MQL, SAL, SQL, Opportunity, Customer, Disqualified, Recycled"
    assert errors == [f"fields.toml:{line_of(text, 'MAQL =')}: [hubspot.outbound[2].values.MAQL] unknown lifecycle "
                      f"status 'MAQL' (known: {known})"]


def test_value_map_missing_a_status_is_located() -> None:
    text = TEXT["fields.toml"].replace('"Meeting held" = "IN_PROGRESS"\n', "")
    errors = cross_errors(fields=text)
    start = line_of(text, "[hubspot.outbound.values]", line_of(text, 'field = "hs_lead_status"'))
    assert errors == [f"fields.toml:{start}: [hubspot.outbound[3].values] hubspot hs_lead_status has no value for "
                      "contact status 'Meeting held'"]


def test_renamed_lifecycle_status_needs_every_value_map_updated() -> None:
    lifecycle = TEXT["lifecycle.toml"].replace('name = "SAL"', 'name = "Sales Accepted"')
    errors = cross_errors(lifecycle=lifecycle)
    assert len(errors) == 4  # unknown SAL + missing "Sales Accepted", in both the Salesforce and HubSpot maps
    assert sum("has no value for lifecycle status 'Sales Accepted'" in e for e in errors) == 2
    assert sum("unknown lifecycle status 'SAL'" in e for e in errors) == 2


def test_unreachable_status_and_insane_thresholds() -> None:
    lifecycle = TEXT["lifecycle.toml"].replace(
        '[[status]]\nname = "SAL"',
        '[[status]]\nname = "MAQL"\nrole = "mql"\n[status.enter]\n'
        'score_and_grade = { min_score = 0, min_grade = "C" }\nhand_raise = ["demo_request", "contact_us"]\n\n'
        '[[status]]\nname = "SAL"',
    ).replace("[status.enter]\nopen_opportunity = true", "")
    errors = cross_errors(lifecycle=lifecycle)
    assert any("[status[3].enter.score_and_grade.min_score] min_score must be above 0" in e for e in errors)
    mql_line = line_of(lifecycle, 'name = "MQL"') - 1
    assert f"lifecycle.toml:{mql_line}: [status[2]] status 'MQL' is unreachable: whenever its entry rules hold, " \
           "a later status ('MAQL', 'SAL', 'SQL', 'Opportunity', 'Customer') holds too" in errors
    assert any("[status[6]] status 'Opportunity' is unreachable: it has no entry rule" in e for e in errors)
    # MAQL is a new status, so both lifecycle value maps miss it too.
    assert sum("has no value for lifecycle status 'MAQL'" in e for e in errors) == 2
    assert len(errors) == 5


def test_matrix_row_covered_by_another_and_fake_real_interaction() -> None:
    lifecycle = (TEXT["lifecycle.toml"].replace('{ min_score = 60, min_grade = "A-" },',
                                                '{ min_score = 60, min_grade = "A-" },\n    '
                                                '{ min_score = 80, min_grade = "A" },')
                 .replace('"form_fill", "email_reply",', '"form_fill", "email_open", "email_reply",'))
    errors = cross_errors(lifecycle=lifecycle)
    assert len(errors) == 2
    assert any("[status[2].enter.matrix[2]] this row never decides: score >= 60 with grade >= A-" in e for e in errors)
    assert any("[status[1].enter.real_interaction] email_open prove no interest" in e for e in errors)


# --- broken copies of fields.toml ---------------------------------------------------------------------

def errors_of(text: str) -> list[str]:
    data, source = parse_toml(text, "fields.toml")
    with pytest.raises(RuleSetError) as info:
        fields_rules.load(data, source)
    return [str(e) for e in info.value.errors]


def test_unknown_key_wrong_type_and_unknown_object() -> None:
    text = (TEXT["fields.toml"].replace('field = "Lead_Grade__c"', 'feild = "Lead_Grade__c"')
            .replace('value = "sla_due_at"\nfield = "SLA_Due__c"', 'value = "sla_due_at"\nfield = 42'))
    errors = errors_of(text)
    assert f"fields.toml:{line_of(text, 'feild')}: [salesforce.outbound[1].feild] unknown key" in errors
    assert f"fields.toml:{line_of(text, 'field = 42')}: [salesforce.outbound[6].field] Input should be a valid " \
           "string" in errors
    grade_line = line_of(text, 'value = "grade"') - 1  # the entry's [[salesforce.outbound]] header
    assert f"fields.toml:{grade_line}: [salesforce.outbound[1].field] Field required" in errors
    wrong_object = TEXT["fields.toml"].replace('objects = ["contacts"]', 'objects = ["Contact"]', 1)
    object_line = line_of(wrong_object, 'objects = ["Contact"]')
    assert errors_of(wrong_object) == [
        f"fields.toml:{object_line}: [hubspot.outbound[0].objects[0]] unknown "
        "hubspot object 'Contact' (expected one of contacts)"]


def test_status_mapping_without_values_and_duplicate_field_and_bad_person_field() -> None:
    fields = TEXT["fields.toml"]
    values_start = fields.index("[hubspot.outbound.values]\nRaw")
    values_end = fields.index("\n\n", values_start)
    text = ((fields[:values_start] + fields[values_end:])
            .replace('field = "MQL_Date__c"', 'field = "SLA_Due__c"')
            .replace('Department = "department"', 'Department = "departmnet"'))
    errors = errors_of(text)
    assert any("[hubspot.outbound[2]] lifecycle_status needs a values table" in e for e in errors), errors
    assert any("[salesforce.outbound[5].field] Lead.SLA_Due__c is already mapped by salesforce.outbound[6]" in e
               or "[salesforce.outbound[6].field] Lead.SLA_Due__c is already mapped by salesforce.outbound[5]" in e
               for e in errors), errors
    assert any("[salesforce.inbound.Contact.fields.Department] unknown person field 'departmnet'" in e
               for e in errors), errors


def test_value_map_on_a_plain_value_and_incomplete_grade_map() -> None:
    text = TEXT["fields.toml"].replace(
        'field = "leadsync_grade"\nobjects = ["contacts"]',
        'field = "leadsync_grade"\nobjects = ["contacts"]\nvalues = { A = "A", B = "B", Z = "Z" }',
    ).replace('field = "leadsync_score"\nobjects = ["contacts"]',
              'field = "leadsync_score"\nobjects = ["contacts"]\nvalues = { "1" = "one" }')
    errors = errors_of(text)
    assert any("[hubspot.outbound[0].values] score takes no value map" in e for e in errors)
    assert any("[hubspot.outbound[1].values] grade value map lacks F, D-" in e for e in errors)
    assert any("[hubspot.outbound[1].values.Z] not a grade: 'Z'" in e for e in errors)


def test_value_for_writes_date_times_in_whole_seconds() -> None:
    # Salesforce keeps whole seconds: a sub-second MQL date would read back different on every cycle.
    from datetime import UTC, datetime

    mql_date = by_field(System.SALESFORCE, "Lead", "MQL_Date__c")
    at = datetime(2026, 11, 24, 5, 27, 51, 215709, tzinfo=UTC)
    assert value_for(mql_date, at) == datetime(2026, 11, 24, 5, 27, 51, tzinfo=UTC)
    assert value_for(mql_date, at).tzinfo is UTC
