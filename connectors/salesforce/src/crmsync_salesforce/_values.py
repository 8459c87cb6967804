"""Salesforce wire values <-> crmsync canonical values, ids, and describe type mapping."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import math
import re
from typing import Any

from crmsync.contract import FieldType

__all__ = [
    "FIELD_TYPES",
    "format_datetime",
    "from_wire",
    "number_limit",
    "parse_datetime",
    "to_18",
    "to_wire",
    "wire_type_problem",
]

FIELD_TYPES: dict[str, FieldType] = {
    "string": FieldType.STRING,
    "textarea": FieldType.TEXT,
    "email": FieldType.EMAIL,
    "phone": FieldType.PHONE,
    "url": FieldType.URL,
    "picklist": FieldType.PICKLIST,
    "combobox": FieldType.PICKLIST,
    "multipicklist": FieldType.MULTIPICKLIST,
    "boolean": FieldType.BOOLEAN,
    "int": FieldType.INTEGER,
    "long": FieldType.NUMBER,
    "double": FieldType.NUMBER,
    "currency": FieldType.NUMBER,
    "percent": FieldType.NUMBER,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
    "id": FieldType.ID,
    "reference": FieldType.REFERENCE,
}

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID15 = re.compile(r"^[a-zA-Z0-9]{15}$")


def to_18(record_id: str) -> str:
    """The case-safe 18-character form of a 15- or 18-character Salesforce id."""
    base = record_id[:15]
    if len(record_id) not in {15, 18} or not _ID15.match(base):
        return record_id
    letters = []
    for start in (0, 5, 10):
        bits = sum(1 << i for i, char in enumerate(base[start : start + 5]) if "A" <= char <= "Z")
        letters.append(_SUFFIX[bits])
    return base + "".join(letters)


@functools.lru_cache(maxsize=4096)
def parse_datetime(text: str) -> dt.datetime:
    """``2024-05-01T12:00:00.000+0000`` (or ``Z`` / ``+00:00``) as an aware datetime.

    Cached: a page of a bulk-loaded org shares a handful of stamps (Salesforce stamps to
    the millisecond), and every record of every feed page is parsed here.
    """
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def format_datetime(value: dt.datetime) -> str:
    """An aware (or UTC-assumed naive) datetime in Salesforce's wire form."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def from_wire(value: Any, sf_type: str | None) -> Any:
    """A value read from the API in canonical form, given the field's describe ``type``."""
    if value is None:
        return None
    if sf_type == "datetime" and isinstance(value, str):
        return parse_datetime(value)
    if sf_type == "date" and isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if sf_type == "multipicklist" and isinstance(value, str):
        return [part for part in value.split(";") if part]
    if sf_type in {"id", "reference"} and isinstance(value, str):
        return to_18(value)
    if sf_type == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def to_wire(value: Any) -> Any:
    """A canonical value as Salesforce JSON (the Python type decides the format)."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(str(item) for item in value)
    return str(value)


_STRINGY = {"string", "textarea", "email", "phone", "url", "picklist", "combobox"}
_STRINGY |= {"multipicklist", "encryptedstring"}
_NUMBERS = {"int", "long", "double", "currency", "percent"}
_WIRE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def wire_type_problem(value: Any, sf_type: str) -> str | None:
    """Why Salesforce's JSON reader would refuse ``value`` (a wire value) for a field of
    describe ``sf_type``, or ``None`` if it fits.

    Salesforce parses a whole sObject Collections request before it saves any record:
    one value it cannot read fails every record of the call (``JSON_PARSER_ERROR``).
    Checking first turns that into an error of the one record.
    """
    if value is None:
        return None
    if sf_type in _STRINGY:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return f"a {sf_type} field takes text, not {type(value).__name__}"
        return None
    if sf_type in {"id", "reference"}:
        return None if isinstance(value, str) else f"a {sf_type} field takes an id"
    if sf_type == "boolean":
        if isinstance(value, bool) or (
            isinstance(value, str) and value.lower() in {"true", "false"}
        ):
            return None
        return "a boolean field takes true or false"
    if sf_type in _NUMBERS:
        number: Any = value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return f"a {sf_type} field takes a number, not text"
        if isinstance(number, bool) or not isinstance(number, int | float):
            return f"a {sf_type} field takes a number"
        if isinstance(number, float) and not math.isfinite(number):
            return f"a {sf_type} field takes a finite number, not {number}"
        if sf_type in {"int", "long"} and float(number) != int(number):
            return f"an {sf_type} field takes a whole number"
        return None
    if sf_type == "date":
        if isinstance(value, str) and _WIRE_DATE.match(value):
            try:
                dt.date.fromisoformat(value)
                return None
            except ValueError:
                pass
        return "a date field takes YYYY-MM-DD"
    if sf_type == "datetime":
        if isinstance(value, str):
            try:
                parse_datetime(value)
                return None
            except ValueError:
                pass
        return "a datetime field takes an ISO 8601 date and time"
    return None  # compound and rarer types: Salesforce decides


def number_limit(meta: dict[str, Any]) -> float | None:
    """The magnitude a number of a describe field entry must stay below: ``10**digits``
    for ``int``, ``10**(precision - scale)`` for the decimal types (Salesforce rounds
    extra decimals to ``scale``; extra whole digits are ``NUMBER_OUTSIDE_VALID_RANGE``);
    ``None`` when describe gives no size."""
    sf_type = str(meta.get("type", ""))
    if sf_type == "int" and int(meta.get("digits") or 0) > 0:
        return float(10 ** int(meta["digits"]))
    if sf_type in {"double", "currency", "percent"} and int(meta.get("precision") or 0) > 0:
        return float(10 ** (int(meta["precision"]) - int(meta.get("scale") or 0)))
    return None
