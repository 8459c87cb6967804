"""The emulated org's metadata: Lead, Contact and Account fields, and their describe JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crmsync_salesforce.emulator._ids import KEY_PREFIXES

__all__ = ["SCHEMAS", "FieldDef", "ObjectSchema", "describe_json"]


@dataclass(frozen=True)
class FieldDef:
    """One field as the emulator enforces it (a subset of Salesforce's describe attributes)."""

    name: str
    label: str
    type: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    default: Any = None
    calculated: bool = False
    external_id: bool = False
    id_lookup: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    digits: int = 0
    precision: int = 0
    scale: int = 0

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")


@dataclass
class ObjectSchema:
    """An sObject: its fields by lower-cased name, in describe order."""

    name: str
    label: str
    fields: dict[str, FieldDef] = field(default_factory=dict)

    def add(self, *defs: FieldDef) -> ObjectSchema:
        for item in defs:
            self.fields[item.name.lower()] = item
        return self

    def get(self, name: str) -> FieldDef | None:
        return self.fields.get(name.lower())


def _system(object_name: str) -> list[FieldDef]:
    ro: dict[str, Any] = {"createable": False, "updateable": False}
    return [
        FieldDef(
            "Id",
            f"{object_name} ID",
            "id",
            18,
            nillable=False,
            id_lookup=True,
            defaulted_on_create=True,
            **ro,
        ),
        FieldDef(
            "IsDeleted",
            "Deleted",
            "boolean",
            nillable=False,
            defaulted_on_create=True,
            default=False,
            **ro,
        ),
        FieldDef(
            "MasterRecordId",
            "Master Record ID",
            "reference",
            18,
            reference_to=(object_name,),
            **ro,
        ),
        FieldDef(
            "OwnerId",
            "Owner ID",
            "reference",
            18,
            nillable=False,
            defaulted_on_create=True,
            reference_to=("Group", "User"),
        ),
        FieldDef(
            "CreatedDate",
            "Created Date",
            "datetime",
            nillable=False,
            defaulted_on_create=True,
            **ro,
        ),
        FieldDef(
            "LastModifiedDate",
            "Last Modified Date",
            "datetime",
            nillable=False,
            defaulted_on_create=True,
            **ro,
        ),
        FieldDef(
            "SystemModstamp",
            "System Modstamp",
            "datetime",
            nillable=False,
            defaulted_on_create=True,
            **ro,
        ),
    ]


_LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
_INDUSTRIES = (
    "Agriculture",
    "Banking",
    "Education",
    "Energy",
    "Healthcare",
    "Retail",
    "Technology",
    "Other",
)
_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
_INTERESTS = ("Email", "Webinar", "Events", "Newsletter")

LEAD = ObjectSchema("Lead", "Lead").add(
    *_system("Lead"),
    FieldDef("LastName", "Last Name", "string", 80, nillable=False),
    FieldDef("FirstName", "First Name", "string", 40),
    FieldDef("Name", "Full Name", "string", 121, createable=False, updateable=False),
    FieldDef("Title", "Title", "string", 128),
    FieldDef("Company", "Company", "string", 255, nillable=False),
    FieldDef("Email", "Email", "email", 80, id_lookup=True),
    FieldDef("Phone", "Phone", "phone", 40),
    FieldDef("MobilePhone", "Mobile Phone", "phone", 40),
    FieldDef("Website", "Website", "url", 255),
    FieldDef("Description", "Description", "textarea", 32000),
    FieldDef("City", "City", "string", 40),
    FieldDef("Country", "Country", "string", 80),
    FieldDef(
        "Status",
        "Lead Status",
        "picklist",
        255,
        nillable=False,
        defaulted_on_create=True,
        default="Open - Not Contacted",
        picklist=_STATUSES,
    ),
    FieldDef("LeadSource", "Lead Source", "picklist", 255, picklist=_LEAD_SOURCES),
    FieldDef("Industry", "Industry", "picklist", 255, picklist=_INDUSTRIES, restricted=True),
    FieldDef("Rating", "Rating", "picklist", 255, picklist=("Hot", "Warm", "Cold")),
    FieldDef("NumberOfEmployees", "Employees", "int", digits=8),
    FieldDef("AnnualRevenue", "Annual Revenue", "currency", precision=18, scale=0),
    FieldDef(
        "HasOptedOutOfEmail",
        "Email Opt Out",
        "boolean",
        nillable=False,
        defaulted_on_create=True,
        default=False,
    ),
    FieldDef(
        "DoNotCall",
        "Do Not Call",
        "boolean",
        nillable=False,
        defaulted_on_create=True,
        default=False,
    ),
    FieldDef(
        "IsConverted",
        "Converted",
        "boolean",
        nillable=False,
        updateable=False,
        defaulted_on_create=True,
        default=False,
    ),
    FieldDef("ConvertedDate", "Converted Date", "date", createable=False, updateable=False),
    FieldDef(
        "ConvertedAccountId",
        "Converted Account ID",
        "reference",
        18,
        createable=False,
        updateable=False,
        reference_to=("Account",),
    ),
    FieldDef(
        "ConvertedContactId",
        "Converted Contact ID",
        "reference",
        18,
        createable=False,
        updateable=False,
        reference_to=("Contact",),
    ),
    FieldDef(
        "ConvertedOpportunityId",
        "Converted Opportunity ID",
        "reference",
        18,
        createable=False,
        updateable=False,
        reference_to=("Opportunity",),
    ),
    FieldDef(
        "Crmsync_Ref__c",
        "Crmsync Ref",
        "string",
        64,
        external_id=True,
        unique=True,
        id_lookup=True,
    ),
    FieldDef("Interests__c", "Interests", "multipicklist", 4099, picklist=_INTERESTS),
    FieldDef("Last_Webinar__c", "Last Webinar", "date"),
    FieldDef("Score_Changed_At__c", "Score Changed At", "datetime"),
    FieldDef("Lead_Score__c", "Lead Score", "double", precision=6, scale=2),
    FieldDef(
        "Size_Band__c",
        "Size Band",
        "string",
        1300,
        createable=False,
        updateable=False,
        calculated=True,
    ),
)

CONTACT = ObjectSchema("Contact", "Contact").add(
    *_system("Contact"),
    FieldDef("AccountId", "Account ID", "reference", 18, reference_to=("Account",)),
    FieldDef("LastName", "Last Name", "string", 80, nillable=False),
    FieldDef("FirstName", "First Name", "string", 40),
    FieldDef("Name", "Full Name", "string", 121, createable=False, updateable=False),
    FieldDef("Title", "Title", "string", 128),
    FieldDef("Email", "Email", "email", 80, id_lookup=True),
    FieldDef("Phone", "Business Phone", "phone", 40),
    FieldDef("MobilePhone", "Mobile Phone", "phone", 40),
    FieldDef("Department", "Department", "string", 80),
    FieldDef("LeadSource", "Lead Source", "picklist", 255, picklist=_LEAD_SOURCES),
    FieldDef("Birthdate", "Birthdate", "date"),
    FieldDef(
        "HasOptedOutOfEmail",
        "Email Opt Out",
        "boolean",
        nillable=False,
        defaulted_on_create=True,
        default=False,
    ),
    FieldDef(
        "DoNotCall",
        "Do Not Call",
        "boolean",
        nillable=False,
        defaulted_on_create=True,
        default=False,
    ),
    FieldDef(
        "Crmsync_Ref__c",
        "Crmsync Ref",
        "string",
        64,
        external_id=True,
        unique=True,
        id_lookup=True,
    ),
)

ACCOUNT = ObjectSchema("Account", "Account").add(
    *_system("Account"),
    FieldDef("Name", "Account Name", "string", 255, nillable=False),
    FieldDef("Industry", "Industry", "picklist", 255, picklist=_INDUSTRIES),
    FieldDef("Website", "Website", "url", 255),
)

SCHEMAS: dict[str, ObjectSchema] = {s.name.lower(): s for s in (LEAD, CONTACT, ACCOUNT)}

_SOAP = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


def _field_json(item: FieldDef) -> dict[str, Any]:
    text = item.type in {
        "string",
        "textarea",
        "email",
        "phone",
        "url",
        "picklist",
        "multipicklist",
        "id",
        "reference",
    }
    return {
        "aggregatable": item.type != "textarea",
        "autoNumber": False,
        "byteLength": item.length * 3 if text else 0,
        "calculated": item.calculated,
        "calculatedFormula": "IF(NumberOfEmployees >= 1000, 'Large', 'Small')"
        if item.calculated
        else None,
        "createable": item.createable,
        "custom": item.custom,
        "defaultValue": item.default if item.type in {"boolean", "picklist"} else None,
        "defaultedOnCreate": item.defaulted_on_create,
        "digits": item.digits,
        "externalId": item.external_id,
        "filterable": item.type != "textarea",
        "idLookup": item.id_lookup,
        "label": item.label,
        "length": item.length if text else 0,
        "name": item.name,
        "nillable": item.nillable,
        "picklistValues": [
            {
                "active": True,
                "defaultValue": value == item.default,
                "label": value,
                "validFor": None,
                "value": value,
            }
            for value in item.picklist
        ],
        "precision": item.precision,
        "referenceTo": list(item.reference_to),
        "relationshipName": item.name[:-2]
        if item.type == "reference" and item.name.endswith("Id") and item.name != "Id"
        else None,
        "restrictedPicklist": item.restricted,
        "scale": item.scale,
        "soapType": _SOAP.get(item.type, "xsd:string"),
        "sortable": item.type not in {"textarea", "multipicklist"},
        "type": item.type,
        "unique": item.unique,
        "updateable": item.updateable,
    }


def describe_json(schema: ObjectSchema, version: str) -> dict[str, Any]:
    """The ``GET /sobjects/{name}/describe`` body for ``schema``."""
    base = f"/services/data/{version}/sobjects/{schema.name}"
    return {
        "name": schema.name,
        "label": schema.label,
        "labelPlural": schema.label + "s",
        "keyPrefix": KEY_PREFIXES[schema.name],
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "custom": False,
        "fields": [_field_json(item) for item in schema.fields.values()],
        "recordTypeInfos": [],
        "childRelationships": [],
        "urls": {
            "describe": f"{base}/describe",
            "sobject": base,
            "rowTemplate": f"{base}/{{ID}}",
        },
    }
