"""The emulated tenant's entities: field metadata, picklists and UDF definitions.

Key sets follow the fact sheet (section 3): ``FieldInfo`` uses ``dataType``,
``UdfInfo`` uses ``type``; picklist ``value`` is a string in metadata while records carry
integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["EntitySchema", "Field", "Udf", "fresh_schemas"]


@dataclass(frozen=True)
class Field:
    name: str
    data_type: str
    length: int = 0
    required: bool = False
    read_only: bool = False
    queryable: bool = True
    reference: str = ""
    picklist: tuple[tuple[int, str], ...] | None = None

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dataType": self.data_type,
            "length": self.length,
            "isRequired": self.required,
            "isReadOnly": self.read_only,
            "isQueryable": self.queryable,
            "isReference": bool(self.reference),
            "referenceEntityType": self.reference,
            "isPickList": self.picklist is not None,
            "picklistValues": _picklist(self.picklist, parent=""),
            "picklistParentValueField": "",
            "isSupportedWebhookField": True,
        }


@dataclass(frozen=True)
class Udf:
    name: str
    type: str = "string"
    length: int = 100
    picklist: tuple[tuple[int, str], ...] | None = None

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.name,
            "type": self.type,
            "length": self.length,
            "description": None,
            "isRequired": False,
            "isReadOnly": False,
            "isQueryable": True,
            "isReference": False,
            "referenceEntityType": None,
            "isPickList": self.picklist is not None,
            "picklistValues": _picklist(self.picklist, parent=None),
            "picklistParentValueField": None,
            "defaultValue": "",
            "isSupportedWebhookField": False,
        }


def _picklist(
    values: tuple[tuple[int, str], ...] | None, *, parent: str | None
) -> list[dict[str, Any]] | None:
    if values is None:
        return None
    return [
        {
            "value": str(value),
            "label": label,
            "isDefaultValue": False,
            "sortOrder": order,
            "parentValue": parent,
            "isActive": True,
            "isSystem": True,
        }
        for order, (value, label) in enumerate(values, start=1)
    ]


@dataclass
class EntitySchema:
    name: str  # the path name: Contacts, Companies
    info_name: str  # singular, as referenceEntityType spells it
    modified_field: str
    fields: tuple[Field, ...]
    udfs: list[Udf] = field(default_factory=list)
    can_delete: bool = True

    def field(self, name: str) -> Field | None:
        lowered = name.lower()
        return next((f for f in self.fields if f.name.lower() == lowered), None)

    def udf(self, name: str) -> Udf | None:
        lowered = name.lower()
        return next((u for u in self.udfs if u.name.lower() == lowered), None)

    def info(self) -> dict[str, Any]:
        access = "All"
        return {
            "name": self.info_name,
            "canCreate": True,
            "canDelete": self.can_delete,
            "canQuery": True,
            "canUpdate": True,
            "userAccessForCreate": access,
            "userAccessForDelete": access if self.can_delete else "None",
            "userAccessForQuery": access,
            "userAccessForUpdate": access,
            "hasUserDefinedFields": True,
            "supportsWebhookCallouts": True,
        }


def _s(name: str, length: int, **kw: Any) -> Field:
    return Field(name, "string", length, **kw)


NAME_PREFIX = ((1, "Mr."), (2, "Mrs."), (3, "Ms."), (4, "Dr."))
NAME_SUFFIX = ((1, "Jr."), (2, "Sr."), (3, "III"))
COMPANY_TYPE = (
    (1, "Customer"),
    (2, "Lead"),
    (3, "Prospect"),
    (4, "Dead"),
    (6, "Cancellation"),
    (7, "Vendor"),
    (8, "Partner"),
)
CLASSIFICATION = ((1, "Gold"), (2, "Silver"), (3, "Bronze"))
MARKET_SEGMENT = ((1, "Healthcare"), (2, "Education"), (3, "Manufacturing"))


def contacts() -> EntitySchema:
    return EntitySchema(
        name="Contacts",
        info_name="Contact",
        modified_field="lastModifiedDate",
        fields=(
            Field("id", "long", read_only=True),
            Field("companyID", "long", required=True, reference="Company"),
            Field("companyLocationID", "long", reference="CompanyLocation"),
            _s("firstName", 50, required=True),
            _s("lastName", 50, required=True),
            _s("middleInitial", 2),
            Field("namePrefix", "integer", picklist=NAME_PREFIX),
            Field("nameSuffix", "integer", picklist=NAME_SUFFIX),
            _s("title", 50),
            _s("emailAddress", 254),
            _s("emailAddress2", 254),
            _s("emailAddress3", 254),
            _s("phone", 25),
            _s("alternatePhone", 32),
            _s("mobilePhone", 25),
            _s("faxNumber", 25),
            _s("extension", 10),
            _s("addressLine", 128),
            _s("addressLine1", 128),
            _s("city", 32),
            _s("state", 40),
            _s("zipCode", 16),
            Field("countryID", "integer", reference="Country"),
            _s("additionalAddressInformation", 100),
            _s("roomNumber", 50),
            Field("primaryContact", "boolean"),
            Field("receivesEmailNotifications", "boolean"),
            Field("isActive", "integer", required=True),
            Field("isOptedOutFromBulkEmail", "boolean", queryable=False),
            Field("bulkEmailOptOutTime", "datetime", read_only=True),
            Field("solicitationOptOut", "boolean", queryable=False),
            Field("solicitationOptOutTime", "datetime", read_only=True),
            Field("surveyOptOut", "boolean", queryable=False),
            _s("externalID", 50),
            _s("linkedInUrl", 200),
            _s("facebookUrl", 200),
            _s("twitterUrl", 200),
            _s("note", 4000),
            Field("createDate", "datetime", read_only=True),
            Field("lastActivityDate", "datetime", read_only=True),
            Field("lastModifiedDate", "datetime", read_only=True),
            Field("apiVendorID", "integer", read_only=True),
            Field("impersonatorCreatorResourceID", "integer", read_only=True),
        ),
        udfs=[
            Udf("Marketing Segment", picklist=((12, "SMB"), (13, "Enterprise"))),
            Udf("Lead Source", length=100),
            Udf("Lead Score", type="integer", length=0),
        ],
    )


def companies() -> EntitySchema:
    return EntitySchema(
        name="Companies",
        info_name="Company",
        modified_field="lastTrackedModifiedDateTime",
        can_delete=False,
        fields=(
            Field("id", "long", read_only=True),
            _s("companyName", 100, required=True),
            _s("companyNumber", 50),
            Field("companyType", "integer", required=True, picklist=COMPANY_TYPE),
            Field("classification", "integer", picklist=CLASSIFICATION),
            Field("isActive", "boolean"),
            Field("ownerResourceID", "integer", required=True, reference="Resource"),
            Field("parentCompanyID", "integer", reference="Company"),
            _s("phone", 25, required=True),
            _s("fax", 25),
            _s("webAddress", 255),
            _s("address1", 128),
            _s("address2", 128),
            _s("city", 32),
            _s("state", 40),
            _s("postalCode", 10),
            Field("countryID", "integer", reference="Country"),
            Field("marketSegmentID", "integer", picklist=MARKET_SEGMENT),
            Field("territoryID", "integer"),
            Field("createDate", "datetime", read_only=True),
            Field("createdByResourceID", "integer", read_only=True),
            Field("lastActivityDate", "datetime", read_only=True),
            Field("lastTrackedModifiedDateTime", "datetime", read_only=True),
        ),
        udfs=[Udf("Industry", length=100)],
    )


def fresh_schemas() -> dict[str, EntitySchema]:
    return {"contacts": contacts(), "companies": companies()}
