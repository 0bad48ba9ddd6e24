"""Describe responses rendered from our field tables, in the shape the real API answers.

The key sets (per field and per object) follow the real v59.0 describe; a test compares them with a
recorded response so a client that reads, say, ``restrictedPicklist`` or ``soapType`` finds it here.
"""

from __future__ import annotations

from typing import Any

from leadsync.sandbox.salesforce.schema import SCHEMAS, FieldSpec, ObjectSchema

SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "double": "xsd:double",
    "currency": "xsd:double", "percent": "xsd:double", "int": "xsd:int", "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
PLURALS = {"Opportunity": "Opportunities", "Campaign Member": "Campaign Members"}


def field_metadata(spec: FieldSpec) -> dict[str, Any]:
    """One entry of ``fields[]``: every key the real describe carries, filled from ``spec``."""
    is_text = spec.type not in SOAP_TYPES
    is_number = spec.type in ("double", "currency", "percent")
    is_reference = spec.type == "reference"
    picklist = [
        {"active": True, "defaultValue": value == spec.default_value, "label": value, "validFor": None,
         "value": value}
        for value in spec.picklist
    ]
    return {
        "aggregatable": spec.type != "textarea",
        "aiPredictionField": False,
        "autoNumber": False,
        "byteLength": spec.length * 3 if is_text else (18 if spec.type in ("id", "reference") else 0),
        "calculated": spec.name == "Name" and not spec.updateable,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": spec.createable,
        "custom": spec.custom,
        "defaultValue": spec.default_value if spec.type != "boolean" else False,
        "defaultValueFormula": None,
        "defaultedOnCreate": spec.defaulted,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 9 if spec.type == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": spec.external_id,
        "extraTypeInfo": "personname" if spec.name == "Name" and not spec.updateable else None,
        "filterable": spec.type != "textarea",
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": spec.type not in ("textarea", "double", "currency", "percent", "datetime"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": spec.type == "id" or spec.external_id or spec.type == "email",
        "inlineHelpText": None,
        "label": spec.label,
        "length": spec.length if is_text or spec.type in ("id", "reference") else 0,
        "mask": None,
        "maskType": None,
        "name": spec.name,
        "nameField": spec.name_field,
        "namePointing": is_reference and len(spec.reference_to) > 1,
        "nillable": spec.nillable,
        "permissionable": spec.nillable and (spec.createable or spec.updateable),
        "picklistValues": picklist,
        "polymorphicForeignKey": is_reference and len(spec.reference_to) > 1,
        "precision": 18 if is_number else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(spec.reference_to),
        "relationshipName": spec.relationship,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": spec.restricted,
        "scale": 2 if spec.type == "currency" else 0,
        "searchPrefilterable": False,
        "soapType": SOAP_TYPES.get(spec.type, "xsd:string"),
        "sortable": spec.type != "textarea",
        "type": spec.type,
        "unique": spec.external_id,
        "updateable": spec.updateable,
        "writeRequiresMasterRead": False,
    }


def _object_urls(schema: ObjectSchema, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{schema.name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts", "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts", "listviews": f"{base}/listviews",
        "describe": f"{base}/describe", "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts", "sobject": base,
    }


def _object_flags(schema: ObjectSchema, version: str) -> dict[str, Any]:
    """The object-level keys shared by the global describe entry and the full describe."""
    label = schema.fields[0].label.removesuffix(" ID")
    if schema.name == "Task" or schema.name == "Event":
        label = schema.name
    return {
        "activateable": False, "associateEntityType": None, "associateParentEntity": None, "createable": True,
        "custom": False, "customSetting": False, "deepCloneable": False, "deletable": True,
        "deprecatedAndHidden": False, "feedEnabled": True, "hasSubtypes": False, "isInterface": False,
        "isSubtype": False, "keyPrefix": schema.key_prefix, "label": label,
        "labelPlural": PLURALS.get(label, label + "s"), "layoutable": True, "mergeable": schema.name in
        ("Lead", "Contact", "Account"), "mruEnabled": True, "name": schema.name, "queryable": True,
        "replicateable": True, "retrieveable": True, "searchable": True, "triggerable": True,
        "undeletable": True, "updateable": True, "urls": _object_urls(schema, version),
    }


def describe_object(schema: ObjectSchema, version: str, instance_url: str) -> dict[str, Any]:
    body = _object_flags(schema, version)
    body["urls"].update({
        "uiDetailTemplate": f"{instance_url}/{{ID}}", "uiEditTemplate": f"{instance_url}/{{ID}}/e",
        "uiNewRecord": f"{instance_url}/{schema.key_prefix}/e",
    })
    body.update({
        "actionOverrides": [], "childRelationships": [], "compactLayoutable": True,
        "defaultImplementation": None, "extendedBy": None, "extendsInterfaces": None,
        "fields": [field_metadata(spec) for spec in schema.fields], "implementedBy": None,
        "implementsInterfaces": None, "listviewable": None, "lookupLayoutable": None,
        "namedLayoutInfos": [], "networkScopeFieldName": None,
        "recordTypeInfos": [{
            "active": True, "available": True, "defaultRecordTypeMapping": True, "developerName": "Master",
            "master": True, "name": "Master", "recordTypeId": "012000000000000AAA",
            "urls": {"layout": f"/services/data/v{version}/sobjects/{schema.name}/describe/layouts/"
                               "012000000000000AAA"},
        }],
        "searchLayoutable": True, "sobjectDescribeOption": "FULL", "supportedScopes": [
            {"label": "All " + body["labelPlural"].lower(), "name": "everything"},
            {"label": "My " + body["labelPlural"].lower(), "name": "mine"},
        ],
    })
    return body


def describe_global(version: str) -> dict[str, Any]:
    return {
        "encoding": "UTF-8", "maxBatchSize": 200,
        "sobjects": [_object_flags(schema, version) for schema in SCHEMAS.values()],
    }


def sobject_basic_info(schema: ObjectSchema, version: str) -> dict[str, Any]:
    """``GET /sobjects/{Type}``: the object flags plus recent items (we keep none)."""
    return {"objectDescribe": _object_flags(schema, version), "recentItems": []}
