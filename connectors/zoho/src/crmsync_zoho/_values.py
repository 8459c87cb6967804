"""Zoho wire values <-> crmsync's canonical values, and field metadata -> FieldSpec.

Record ids stay strings everywhere: 18-19 digit numbers do not survive a float, and
nothing here ever needs them as numbers.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from crmsync.contract import FieldSpec, FieldType

__all__ = [
    "FIELD_TYPES",
    "field_spec",
    "format_datetime",
    "from_wire",
    "parse_datetime",
    "to_wire",
    "wire_problem",
]

FIELD_TYPES: dict[str, FieldType] = {
    "text": FieldType.STRING,
    "textarea": FieldType.TEXT,
    "email": FieldType.EMAIL,
    "phone": FieldType.PHONE,
    "website": FieldType.URL,
    "picklist": FieldType.PICKLIST,
    "multiselectpicklist": FieldType.MULTIPICKLIST,
    "boolean": FieldType.BOOLEAN,
    "integer": FieldType.INTEGER,
    "double": FieldType.NUMBER,
    "currency": FieldType.NUMBER,
    "percent": FieldType.NUMBER,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
    "lookup": FieldType.REFERENCE,
    "ownerlookup": FieldType.REFERENCE,
    "userlookup": FieldType.REFERENCE,
    # Zoho sends bigint and autonumber values as strings; kept as strings.
    "bigint": FieldType.STRING,
    "autonumber": FieldType.STRING,
}
_TEXTUAL = {"text", "textarea", "email", "phone", "website", "picklist", "autonumber",
            "bigint"}
_REFERENCES = {"lookup", "ownerlookup", "userlookup"}
# Computed or system-set whatever the flags say.
_ALWAYS_READ_ONLY = {"formula", "rollup_summary", "autonumber", "profileimage", "layout"}


def parse_datetime(value: str) -> dt.datetime:
    """``2024-09-03T08:15:42+02:00`` (offset required) -> an aware datetime."""
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"datetime without an offset: {value!r}")
    return moment


def format_datetime(value: dt.datetime) -> str:
    """An aware datetime -> Zoho's second-precision ISO 8601 with a numeric offset."""
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat(timespec="seconds")


def field_spec(meta: dict[str, Any]) -> FieldSpec:
    """One ``/settings/fields`` entry -> FieldSpec."""
    data_type = str(meta.get("data_type") or "")
    kind = FIELD_TYPES.get(data_type, FieldType.OTHER)
    if data_type == "text" and meta.get("json_type") == "jsonarray":
        kind = FieldType.OTHER  # Tag: reported as text but its values are objects
    length = meta.get("length")
    read_only = bool(meta.get("read_only") or meta.get("field_read_only")) or (
        data_type in _ALWAYS_READ_ONLY
    )
    picks = tuple(
        str(p.get("actual_value")) for p in meta.get("pick_list_values") or []
        if p.get("actual_value") not in (None, "-None-")
    )
    return FieldSpec(
        name=str(meta["api_name"]),
        label=str(meta.get("display_label") or meta.get("field_label") or meta["api_name"]),
        type=kind,
        length=int(length) if data_type in _TEXTUAL and isinstance(length, int) and length > 0
        else None,
        required_on_create=bool(meta.get("system_mandatory")),
        read_only=read_only,
        picklist_values=picks,
        restricted_picklist=False,  # Zoho accepts values outside the list (fact sheet 9.19)
        vendor_type=data_type or None,
    )


def from_wire(value: Any, data_type: str) -> Any:
    """A value as Zoho returns it -> canonical form."""
    if value is None:
        return None
    if data_type in _REFERENCES:
        if isinstance(value, dict):
            found = value.get("id")
            return str(found) if found is not None else None
        return str(value)
    if data_type == "datetime" and isinstance(value, str):
        return parse_datetime(value)
    if data_type == "date" and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if data_type == "multiselectpicklist" and isinstance(value, list):
        return [str(v) for v in value]
    if data_type in _TEXTUAL and not isinstance(value, str):
        return str(value)
    return value


def to_wire(value: Any, data_type: str) -> Any:
    """A canonical value -> what Zoho accepts for ``data_type``."""
    if value is None:
        return None
    if data_type in _REFERENCES:
        return {"id": str(value)}
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        if data_type == "integer" and value == value.to_integral_value():
            return int(value)
        return float(value)  # JSON numbers; currency keeps at most 9 decimals
    if isinstance(value, tuple):
        return list(value)
    return value


def wire_problem(value: Any, data_type: str) -> str | None:
    """Why Zoho could not read ``value`` as ``data_type`` (its JSON type), or None."""
    if value is None:
        return None
    if data_type in _TEXTUAL and not isinstance(value, str):
        return f"expects text, got {type(value).__name__}"
    if data_type == "boolean" and not isinstance(value, bool):
        return f"expects true/false, got {type(value).__name__}"
    if data_type == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"expects an integer, got {type(value).__name__}"
    if data_type in {"double", "currency", "percent"} and (
        isinstance(value, bool) or not isinstance(value, (int, float))
    ):
        return f"expects a number, got {type(value).__name__}"
    if data_type == "multiselectpicklist" and not isinstance(value, list):
        return f"expects a list of choices, got {type(value).__name__}"
    return None
