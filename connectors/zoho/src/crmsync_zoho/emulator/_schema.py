"""Field metadata of the emulated org (``/settings/fields``) and write validation.

Fields follow the fact sheet's standard Leads/Contacts sets (section 3); validation
follows section 5: lengths, JSON types, email format, integer digits; picklist values
are *not* enforced (Zoho accepts unknown values).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FIELDS", "MODULES", "FieldDef", "field_metadata", "validate_value"]

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")


@dataclass(frozen=True)
class FieldDef:
    api_name: str
    label: str
    data_type: str
    json_type: str = "string"
    length: int | None = None
    system_mandatory: bool = False
    field_read_only: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    lookup: str | None = None
    custom: bool = False
    decimal_place: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _text(name: str, label: str, length: int, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "text", length=length, **kw)


_SALUTATIONS = ("-None-", "Mr.", "Mrs.", "Ms.", "Dr.", "Prof.")
_SOURCES = ("-None-", "Advertisement", "Cold Call", "Web Form", "Trade Show", "Web Download")
_COMMON: tuple[FieldDef, ...] = (
    FieldDef("Owner", "Lead Owner", "ownerlookup", "jsonobject", length=120),
    FieldDef("Salutation", "Salutation", "picklist", length=120, picklist=_SALUTATIONS),
    _text("First_Name", "First Name", 40),
    _text("Last_Name", "Last Name", 80, system_mandatory=True),
    FieldDef("Full_Name", "Full Name", "text", length=120, field_read_only=True),
    FieldDef("Email", "Email", "email", length=100),
    FieldDef("Secondary_Email", "Secondary Email", "email", length=100),
    FieldDef("Phone", "Phone", "phone", length=30),
    FieldDef("Mobile", "Mobile", "phone", length=30),
    FieldDef("Lead_Source", "Lead Source", "picklist", length=120, picklist=_SOURCES),
    FieldDef("Email_Opt_Out", "Email Opt Out", "boolean", "boolean"),
    FieldDef("Description", "Description", "textarea", length=32000),
    FieldDef("Tag", "Tag", "text", "jsonarray", length=2000),
    FieldDef("Created_By", "Created By", "ownerlookup", "jsonobject", field_read_only=True),
    FieldDef("Modified_By", "Modified By", "ownerlookup", "jsonobject", field_read_only=True),
    FieldDef("Created_Time", "Created Time", "datetime", field_read_only=True),
    FieldDef("Modified_Time", "Modified Time", "datetime", field_read_only=True),
    FieldDef("Last_Activity_Time", "Last Activity Time", "datetime", field_read_only=True),
    FieldDef(
        "Unsubscribed_Mode",
        "Unsubscribed Mode",
        "picklist",
        length=120,
        field_read_only=True,
        picklist=("-None-", "Manual", "Unsubscribe Link", "Consent form"),
    ),
    FieldDef("Unsubscribed_Time", "Unsubscribed Time", "datetime", field_read_only=True),
)

_LEAD_ONLY: tuple[FieldDef, ...] = (
    _text("Company", "Company", 200),
    _text("Designation", "Title", 100),
    FieldDef("Website", "Website", "website", length=255),
    FieldDef(
        "Lead_Status",
        "Lead Status",
        "picklist",
        length=120,
        picklist=("-None-", "Attempted to Contact", "Contacted", "Not Contacted", "Junk Lead"),
    ),
    FieldDef(
        "Industry", "Industry", "picklist", length=120, picklist=("-None-", "ASP", "Government")
    ),
    FieldDef("Rating", "Rating", "picklist", length=120, picklist=("-None-", "Hot", "Warm")),
    FieldDef("No_of_Employees", "No. of Employees", "integer", "integer", length=9),
    FieldDef(
        "Annual_Revenue", "Annual Revenue", "currency", "double", length=16, decimal_place=2
    ),
    FieldDef("Converted_Contact", "Converted Contact", "lookup", "jsonobject",
             field_read_only=True, lookup="Contacts"),
    FieldDef("Converted_Account", "Converted Account", "lookup", "jsonobject",
             field_read_only=True, lookup="Accounts"),
    FieldDef("Converted_Deal", "Converted Deal", "lookup", "jsonobject",
             field_read_only=True, lookup="Deals"),
    FieldDef("Lead_Conversion_Time", "Lead Conversion Time", "integer", "integer",
             field_read_only=True),
    FieldDef(
        "Interests", "Interests", "multiselectpicklist", "jsonarray",
        length=2000, picklist=("Product A", "Product B", "Webinars"), custom=True,
    ),
)

_CONTACT_ONLY: tuple[FieldDef, ...] = (
    _text("Title", "Title", 100),
    _text("Department", "Department", 100),
    FieldDef("Account_Name", "Account Name", "lookup", "jsonobject", lookup="Accounts"),
    FieldDef("Date_of_Birth", "Date of Birth", "date"),
    FieldDef("Score", "Score", "integer", "integer", length=9, custom=True),
)

_ACCOUNT: tuple[FieldDef, ...] = (
    FieldDef("Owner", "Account Owner", "ownerlookup", "jsonobject", length=120),
    _text("Account_Name", "Account Name", 200, system_mandatory=True),
    FieldDef("Created_Time", "Created Time", "datetime", field_read_only=True),
    FieldDef("Modified_Time", "Modified Time", "datetime", field_read_only=True),
)

FIELDS: dict[str, dict[str, FieldDef]] = {
    "Leads": {f.api_name: f for f in (*_COMMON, *_LEAD_ONLY)},
    "Contacts": {f.api_name: f for f in (*_COMMON, *_CONTACT_ONLY)},
    "Accounts": {f.api_name: f for f in _ACCOUNT},
}
MODULES = tuple(FIELDS)


def field_metadata(fdef: FieldDef, index: int, module_index: int, version: int) -> dict[str, Any]:
    """One entry of ``GET /settings/fields`` (v8 shape; v2 picklists carry three keys)."""
    base = 3141590000000002000 + module_index * 100_000 + index
    picks: list[dict[str, Any]] = []
    for n, value in enumerate(fdef.picklist):
        entry: dict[str, Any] = {
            "display_value": value,
            "actual_value": value,
            "reference_value": value,
        }
        if version >= 3:
            entry.update(
                {
                    "id": str(3141590000000003000 + module_index * 100_000 + index * 20 + n),
                    "sequence_number": n + 1,
                    "type": "used",
                    "colour_code": None,
                }
            )
        picks.append(entry)
    meta: dict[str, Any] = {
        "id": str(base),
        "api_name": fdef.api_name,
        "field_label": fdef.label,
        "display_label": fdef.label,
        "data_type": fdef.data_type,
        "json_type": fdef.json_type,
        "length": fdef.length,
        "decimal_place": fdef.decimal_place,
        "read_only": fdef.field_read_only,
        "field_read_only": fdef.field_read_only,
        "system_mandatory": fdef.system_mandatory,
        "custom_field": fdef.custom,
        "visible": True,
        "unique": {"case_sensitive": False} if fdef.unique else {},
        "pick_list_values": picks,
        "view_type": {"view": True, "edit": not fdef.field_read_only, "create": True,
                      "quick_create": fdef.system_mandatory},
        "webhook": True,
    }
    if fdef.lookup:
        meta["lookup"] = {"module": {"api_name": fdef.lookup}}
    if fdef.data_type == "textarea":
        meta["textarea"] = {"type": "large"}
    return meta


def _problem(code: str, fdef: FieldDef, **details: Any) -> tuple[str, dict[str, Any]]:
    return code, {"api_name": fdef.api_name, **details}


def validate_value(fdef: FieldDef, value: Any) -> tuple[str, dict[str, Any]] | None:
    """``None`` when Zoho would store ``value`` in ``fdef``, else ``(code, details)``."""
    if value is None:
        return None
    kind = fdef.data_type
    if kind in {"text", "textarea", "email", "phone", "website", "picklist"}:
        if not isinstance(value, str):
            return _problem("INVALID_DATA", fdef, expected_data_type=kind)
        limit = fdef.length or 255
        if len(value) > limit:
            return _problem("INVALID_DATA", fdef, maximum_length=limit)
        if kind == "email" and value and not _EMAIL.match(value):
            return _problem("INVALID_DATA", fdef, regex=_EMAIL.pattern)
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else _problem(
            "INVALID_DATA", fdef, expected_data_type="boolean"
        )
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 10**9:
            return _problem("INVALID_DATA", fdef, expected_data_type="integer")
        return None
    if kind in {"currency", "double", "percent"}:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _problem("INVALID_DATA", fdef, expected_data_type="double")
        return None
    if kind == "date":
        if not isinstance(value, str) or not _DATE.match(value):
            return _problem("INVALID_DATA", fdef, expected_data_type="date")
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return _problem("INVALID_DATA", fdef, expected_data_type="date")
        return None
    if kind == "datetime":
        if not isinstance(value, str) or not _DATETIME.match(value):
            return _problem("INVALID_DATA", fdef, expected_data_type="datetime")
        return None
    if kind == "multiselectpicklist":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return _problem("INVALID_DATA", fdef, expected_data_type="jsonarray")
        return None
    if kind in {"lookup", "ownerlookup"}:
        if not isinstance(value, dict) or not isinstance(value.get("id"), str):
            return _problem("INVALID_DATA", fdef, expected_data_type="jsonobject")
        return None
    return None
