"""Whether a canonical value fits the field ``list_fields`` declared: written once for
every connector that checks a record before writing it (types, lengths, picklists)."""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any

from crmsync.contract import FieldSpec, FieldType

__all__ = ["FieldProblem", "check_value"]

_STRINGS = frozenset(
    {
        FieldType.STRING,
        FieldType.TEXT,
        FieldType.EMAIL,
        FieldType.PHONE,
        FieldType.URL,
        FieldType.PICKLIST,
        FieldType.ID,
    }
)


@dataclass(frozen=True)
class FieldProblem:
    """Why a value cannot be written: a machine code, a message for people, the
    field."""

    code: str
    message: str
    field: str | None


def check_value(spec: FieldSpec, value: Any) -> FieldProblem | None:
    """Why ``value`` (canonical form, ``None`` for blank) cannot be written to the
    field ``spec`` describes, or ``None`` when it can."""
    name = spec.name

    def bad(code: str, message: str) -> FieldProblem:
        return FieldProblem(code, f"{name}: {message}", name)

    if value is None:
        return None
    kind = spec.type
    if kind in _STRINGS:
        if not isinstance(value, str):
            return bad("INVALID_TYPE", f"expected text, got {type(value).__name__}")
        if spec.length is not None and len(value) > spec.length:
            return bad(
                "STRING_TOO_LONG", f"{len(value)} characters, at most {spec.length}"
            )
        if kind is FieldType.EMAIL and value.strip() and value.count("@") != 1:
            return bad("INVALID_EMAIL", f"{value!r} is not an email address")
        if (
            spec.restricted_picklist
            and value.strip()
            and value not in spec.picklist_values
        ):
            allowed = ", ".join(spec.picklist_values)
            return bad("INVALID_PICKLIST_VALUE", f"{value!r} is not one of: {allowed}")
        return None
    if kind is FieldType.MULTIPICKLIST:
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, str) for v in value
        ):
            return bad("INVALID_TYPE", "expected a list of strings")
        return None
    if kind is FieldType.BOOLEAN:
        return (
            None
            if isinstance(value, bool)
            else bad("INVALID_TYPE", "expected true or false")
        )
    if kind is FieldType.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            return bad(
                "INVALID_TYPE", f"expected an integer, got {type(value).__name__}"
            )
        return None
    if kind is FieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(
            value, int | float | decimal.Decimal
        ):
            return bad("INVALID_TYPE", f"expected a number, got {type(value).__name__}")
        return None
    if kind is FieldType.DATE:
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            return bad("INVALID_TYPE", "expected a date (datetime.date)")
        return None
    if kind is FieldType.DATETIME:
        if not isinstance(value, dt.datetime):
            return bad("INVALID_TYPE", "expected a datetime")
        if value.tzinfo is None or value.utcoffset() is None:
            return bad("INVALID_TYPE", "datetime must be time-zone aware")
        return None
    return None
