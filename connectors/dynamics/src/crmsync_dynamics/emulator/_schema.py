"""The emulated tables: ``lead`` and ``contact`` columns as Dataverse describes them.

Column names, types, lengths and requirement levels follow the out-of-box tables in the
fact sheet (section 3 and 8): lead ``lastname`` String 50 and ``subject`` String 300 are
ApplicationRequired (never enforced by the API), ``emailaddress1`` String 100, the lead
state machine of section 8, ``merged``/``masterid`` read-only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

__all__ = ["SCHEMAS", "Column", "Table", "metadata_id"]


def metadata_id(*parts: str) -> str:
    """A stable MetadataId for a table, column or option set."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "dataverse-emulator:" + ":".join(parts)))


@dataclass(frozen=True)
class Column:
    """One attribute of a table (an ``AttributeMetadata``)."""

    name: str
    type_name: str  # AttributeTypeName.Value: StringType, PicklistType, ...
    label: str
    max_length: int | None = None
    format_name: str | None = None  # Email, Phone, Url, Text (StringType only)
    required: str = "None"  # None, SystemRequired, ApplicationRequired, Recommended
    create: bool = True
    update: bool = True
    read: bool = True
    options: tuple[tuple[int, str], ...] = ()  # choices: (value, label)
    # statuscode option -> its statecode; statecode option -> its default statuscode
    option_state: dict[int, int] = field(default_factory=dict)
    default: Any = None
    targets: tuple[str, ...] = ()  # lookups: the tables it can point at
    precision: int | None = None

    @property
    def attribute_type(self) -> str:
        """``AttributeType`` (the AttributeTypeCode name) for this column."""
        return _ATTRIBUTE_TYPES[self.type_name]

    @property
    def metadata_type(self) -> str:
        """The derived ``AttributeMetadata`` type name for ``@odata.type`` and casts."""
        return _METADATA_TYPES[self.type_name]

    @property
    def is_lookup(self) -> bool:
        return self.type_name in {"LookupType", "CustomerType", "OwnerType"}


_ATTRIBUTE_TYPES = {
    "StringType": "String",
    "MemoType": "Memo",
    "IntegerType": "Integer",
    "BigIntType": "BigInt",
    "DecimalType": "Decimal",
    "DoubleType": "Double",
    "MoneyType": "Money",
    "BooleanType": "Boolean",
    "DateTimeType": "DateTime",
    "PicklistType": "Picklist",
    "StateType": "State",
    "StatusType": "Status",
    "LookupType": "Lookup",
    "CustomerType": "Customer",
    "OwnerType": "Owner",
    "UniqueidentifierType": "Uniqueidentifier",
}
_METADATA_TYPES = {
    "StringType": "StringAttributeMetadata",
    "MemoType": "MemoAttributeMetadata",
    "IntegerType": "IntegerAttributeMetadata",
    "BigIntType": "BigIntAttributeMetadata",
    "DecimalType": "DecimalAttributeMetadata",
    "DoubleType": "DoubleAttributeMetadata",
    "MoneyType": "MoneyAttributeMetadata",
    "BooleanType": "BooleanAttributeMetadata",
    "DateTimeType": "DateTimeAttributeMetadata",
    "PicklistType": "PicklistAttributeMetadata",
    "StateType": "StateAttributeMetadata",
    "StatusType": "StatusAttributeMetadata",
    "LookupType": "LookupAttributeMetadata",
    "CustomerType": "LookupAttributeMetadata",
    "OwnerType": "LookupAttributeMetadata",
    "UniqueidentifierType": "AttributeMetadata",
}


@dataclass(frozen=True)
class Table:
    """One table: logical name, entity set, primary key and its columns."""

    logical_name: str
    entity_set: str
    primary_key: str
    display_name: str
    columns: tuple[Column, ...]
    # navigation property (for @odata.bind) -> (lookup column, target table)
    navigation: dict[str, tuple[str, str]] = field(default_factory=dict)

    def column(self, name: str) -> Column | None:
        return self.by_name.get(name)

    @cached_property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}


def _s(name: str, label: str, length: int, **extra: Any) -> Column:
    return Column(name, "StringType", label, max_length=length, format_name="Text", **extra)


def _b(name: str, label: str, default: bool = False) -> Column:
    return Column(name, "BooleanType", label, default=default)


_SYSTEM = {
    "createdon": Column("createdon", "DateTimeType", "Created On", create=False, update=False),
    "modifiedon": Column("modifiedon", "DateTimeType", "Modified On", create=False, update=False),
    "versionnumber": Column(
        "versionnumber", "BigIntType", "Version Number", create=False, update=False
    ),
    "ownerid": Column(
        "ownerid", "OwnerType", "Owner", required="SystemRequired", targets=("systemuser", "team")
    ),
    "fullname": _s("fullname", "Full Name", 160, create=False, update=False),
    "merged": Column("merged", "BooleanType", "Merged", default=False, create=False, update=False),
}

LEAD_STATE = ((0, "Open"), (1, "Qualified"), (2, "Disqualified"))
LEAD_STATUS = (
    (1, "New"),
    (2, "Contacted"),
    (3, "Qualified"),
    (4, "Lost"),
    (5, "Cannot Contact"),
    (6, "No Longer Interested"),
    (7, "Canceled"),
)
LEAD_STATUS_STATE = {1: 0, 2: 0, 3: 1, 4: 2, 5: 2, 6: 2, 7: 2}
LEAD_DEFAULT_STATUS = {0: 1, 1: 3, 2: 4}
CONTACT_STATUS_STATE = {1: 0, 2: 1}
CONTACT_DEFAULT_STATUS = {0: 1, 1: 2}

LEAD = Table(
    logical_name="lead",
    entity_set="leads",
    primary_key="leadid",
    display_name="Lead",
    columns=(
        Column("leadid", "UniqueidentifierType", "Lead", required="SystemRequired", update=False),
        _s("firstname", "First Name", 50, required="Recommended"),
        _s("lastname", "Last Name", 50, required="ApplicationRequired"),
        _SYSTEM["fullname"],
        _s("subject", "Topic", 300, required="ApplicationRequired"),
        _s("companyname", "Company Name", 100, required="Recommended"),
        Column("emailaddress1", "StringType", "Email", max_length=100, format_name="Email"),
        Column(
            "emailaddress2", "StringType", "Email Address 2", max_length=100, format_name="Email"
        ),
        _s("jobtitle", "Job Title", 100),
        Column("telephone1", "StringType", "Business Phone", max_length=50, format_name="Phone"),
        Column("mobilephone", "StringType", "Mobile Phone", max_length=20, format_name="Phone"),
        Column("websiteurl", "StringType", "Website", max_length=200, format_name="Url"),
        _s("address1_city", "City", 80),
        _s("address1_country", "Country/Region", 80),
        Column("description", "MemoType", "Description", max_length=2000),
        _b("donotemail", "Do not allow Emails"),
        _b("donotphone", "Do not allow Phone Calls"),
        _b("donotbulkemail", "Do not allow Bulk Emails"),
        Column(
            "leadsourcecode",
            "PicklistType",
            "Lead Source",
            options=(
                (1, "Advertisement"),
                (2, "Employee Referral"),
                (3, "External Referral"),
                (4, "Partner"),
                (5, "Public Relations"),
                (6, "Seminar"),
                (7, "Trade Show"),
                (8, "Web"),
                (9, "Word of Mouth"),
                (10, "Other"),
            ),
        ),
        Column(
            "leadqualitycode",
            "PicklistType",
            "Rating",
            options=((1, "Hot"), (2, "Warm"), (3, "Cold")),
            default=2,
        ),
        Column("numberofemployees", "IntegerType", "No. of Employees"),
        Column("revenue", "MoneyType", "Annual Revenue", precision=2),
        Column(
            "statecode",
            "StateType",
            "Status",
            required="SystemRequired",
            options=LEAD_STATE,
            option_state=LEAD_DEFAULT_STATUS,
            default=0,
        ),
        Column(
            "statuscode",
            "StatusType",
            "Status Reason",
            options=LEAD_STATUS,
            option_state=LEAD_STATUS_STATE,
            default=1,
        ),
        Column("parentcontactid", "LookupType", "Existing Contact?", targets=("contact",)),
        Column("parentaccountid", "LookupType", "Existing Account", targets=("account",)),
        Column("customerid", "CustomerType", "Customer", targets=("account", "contact")),
        Column(
            "masterid", "LookupType", "Master ID", targets=("lead",), create=False, update=False
        ),
        _SYSTEM["merged"],
        _SYSTEM["ownerid"],
        _SYSTEM["createdon"],
        _SYSTEM["modifiedon"],
        _SYSTEM["versionnumber"],
    ),
    navigation={
        "parentcontactid": ("parentcontactid", "contact"),
        "parentaccountid": ("parentaccountid", "account"),
        "customerid_account": ("customerid", "account"),
        "customerid_contact": ("customerid", "contact"),
        "ownerid": ("ownerid", "systemuser"),
    },
)

CONTACT = Table(
    logical_name="contact",
    entity_set="contacts",
    primary_key="contactid",
    display_name="Contact",
    columns=(
        Column(
            "contactid",
            "UniqueidentifierType",
            "Contact",
            required="SystemRequired",
            update=False,
        ),
        _s("firstname", "First Name", 50, required="Recommended"),
        _s("lastname", "Last Name", 50, required="ApplicationRequired"),
        _SYSTEM["fullname"],
        Column("emailaddress1", "StringType", "Email", max_length=100, format_name="Email"),
        Column(
            "emailaddress2", "StringType", "Email Address 2", max_length=100, format_name="Email"
        ),
        _s("jobtitle", "Job Title", 100),
        Column("telephone1", "StringType", "Business Phone", max_length=50, format_name="Phone"),
        Column("mobilephone", "StringType", "Mobile Phone", max_length=50, format_name="Phone"),
        _s("address1_city", "City", 80),
        Column("description", "MemoType", "Description", max_length=2000),
        _b("donotemail", "Do not allow Emails"),
        _b("donotphone", "Do not allow Phone Calls"),
        Column(
            "preferredcontactmethodcode",
            "PicklistType",
            "Preferred Method of Contact",
            options=((1, "Any"), (2, "Email"), (3, "Phone"), (4, "Fax"), (5, "Mail")),
            default=1,
        ),
        Column(
            "statecode",
            "StateType",
            "Status",
            required="SystemRequired",
            options=((0, "Active"), (1, "Inactive")),
            option_state=CONTACT_DEFAULT_STATUS,
            default=0,
        ),
        Column(
            "statuscode",
            "StatusType",
            "Status Reason",
            options=((1, "Active"), (2, "Inactive")),
            option_state=CONTACT_STATUS_STATE,
            default=1,
        ),
        Column("originatingleadid", "LookupType", "Originating Lead", targets=("lead",)),
        Column("parentcustomerid", "CustomerType", "Company Name", targets=("account", "contact")),
        Column(
            "masterid", "LookupType", "Master ID", targets=("contact",), create=False, update=False
        ),
        _SYSTEM["merged"],
        _SYSTEM["ownerid"],
        _SYSTEM["createdon"],
        _SYSTEM["modifiedon"],
        _SYSTEM["versionnumber"],
    ),
    navigation={
        "originatingleadid": ("originatingleadid", "lead"),
        "parentcustomerid_contact": ("parentcustomerid", "contact"),
        "parentcustomerid_account": ("parentcustomerid", "account"),
        "ownerid": ("ownerid", "systemuser"),
    },
)

SCHEMAS: dict[str, Table] = {LEAD.logical_name: LEAD, CONTACT.logical_name: CONTACT}
