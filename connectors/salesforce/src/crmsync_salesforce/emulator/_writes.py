"""Record validation and storage rules of the emulated org (what a save enforces)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crmsync_salesforce.emulator._ids import is_valid_id, to_18
from crmsync_salesforce.emulator._schema import FieldDef, ObjectSchema
from crmsync_salesforce.emulator._soql import parse_datetime

__all__ = [
    "RequestError",
    "ValidationRule",
    "apply_computed",
    "coerce_values",
    "format_datetime",
    "record_errors",
]

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STRINGY = {
    "string",
    "textarea",
    "email",
    "phone",
    "url",
    "picklist",
    "multipicklist",
    "combobox",
}
_NUMERIC = {"int", "double", "currency", "percent", "long"}


def format_datetime(value: dt.datetime) -> str:
    """Salesforce's wire form: UTC, milliseconds, ``+0000``."""
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


class RequestError(Exception):
    """The whole request is refused (top-level error array)."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]


@dataclass(frozen=True)
class ValidationRule:
    """An org validation rule: ``failing(record)`` true means the save is refused."""

    object_name: str
    failing: Callable[[Mapping[str, Any]], bool]
    message: str
    field: str | None = None


def _parser_error(item: FieldDef, value: Any) -> RequestError:
    return RequestError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {item.type} from {type(value).__name__} value "
        f"{value!r} or request may be missing a required field at [line:1, column:1]",
    )


def _coerce(item: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    kind = item.type
    if kind in _STRINGY:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _parser_error(item, value)
        return str(value)
    if kind in {"id", "reference"}:
        if not isinstance(value, str):
            raise _parser_error(item, value)
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise _parser_error(item, value)
    if kind in _NUMERIC:
        if isinstance(value, bool):
            raise _parser_error(item, value)
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            raise _parser_error(item, value) from None
        if not isinstance(number, int | float):
            raise _parser_error(item, value)
        if kind == "int":
            if float(number) != int(number):
                raise _parser_error(item, value)
            return int(number)
        return number
    if kind == "date":
        if not isinstance(value, str) or not _DATE.match(value):
            raise _parser_error(item, value)
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise _parser_error(item, value) from None
        return value
    if kind == "datetime":
        if not isinstance(value, str):
            raise _parser_error(item, value)
        try:
            return format_datetime(parse_datetime(value))
        except ValueError:
            raise _parser_error(item, value) from None
    raise _parser_error(item, value)


def coerce_values(schema: ObjectSchema, values: Mapping[str, Any]) -> dict[FieldDef, Any]:
    """Map a request body onto fields, refusing unknown columns and wrong JSON types."""
    out: dict[FieldDef, Any] = {}
    for key, value in values.items():
        if key == "attributes":
            continue
        item = schema.get(key)
        if item is None:
            raise RequestError(
                400,
                "INVALID_FIELD",
                f"No such column '{key}' on sobject of type {schema.name}",
            )
        out[item] = _coerce(item, value)
    return out


def _error(code: str, message: str, fields: list[str]) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": fields}


def record_errors(
    schema: ObjectSchema,
    values: Mapping[FieldDef, Any],
    merged: Mapping[str, Any],
    *,
    creating: bool,
    rules: list[ValidationRule],
) -> list[dict[str, Any]]:
    """Per-record save errors (item shape, ``statusCode``), in Salesforce's order."""
    locked = [
        item.name
        for item in values
        if (creating and not item.createable) or (not creating and not item.updateable)
    ]
    if locked:
        verb = "create" if creating else "update"
        return [
            _error(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to {verb} fields: {', '.join(locked)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                locked,
            )
        ]
    errors: list[dict[str, Any]] = []
    for item, value in values.items():
        if value is None:
            continue
        if item.type in {"id", "reference"} and not is_valid_id(value):
            errors.append(
                _error(
                    "MALFORMED_ID",
                    f"{item.label}: id value of incorrect type: {value}",
                    [item.name],
                )
            )
        elif (
            item.length
            and isinstance(value, str)
            and item.type in _STRINGY
            and (len(value) > item.length)
        ):
            errors.append(
                _error(
                    "STRING_TOO_LONG",
                    f"{item.label}: data value too large: {value} (max length={item.length})",
                    [item.name],
                )
            )
        elif item.type == "email" and not _EMAIL.match(value):
            errors.append(
                _error(
                    "INVALID_EMAIL_ADDRESS",
                    f"{item.label}: invalid email address: {value}",
                    [item.name],
                )
            )
        elif item.type == "picklist" and item.restricted and value not in item.picklist:
            errors.append(
                _error(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{item.label}: bad value for restricted picklist field: {value}",
                    [item.name],
                )
            )
    if errors:
        return errors
    missing = [
        item.name
        for item in schema.fields.values()
        if item.createable
        and not item.nillable
        and not item.defaulted_on_create
        and item.type != "boolean"
        and (merged.get(item.name) is None or str(merged.get(item.name)).strip() == "")
    ]
    if missing:
        return [
            _error(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        ]
    for rule in rules:
        if rule.object_name == schema.name and rule.failing(merged):
            return [
                _error(
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    rule.message,
                    [rule.field] if rule.field else [],
                )
            ]
    return []


def normalize_references(values: dict[FieldDef, Any]) -> None:
    for item, value in list(values.items()):
        if item.type in {"id", "reference"} and isinstance(value, str) and is_valid_id(value):
            values[item] = to_18(value)


def apply_computed(schema: ObjectSchema, record: dict[str, Any]) -> None:
    """Recompute the compound Name and the formula field after a save."""
    if schema.get("FirstName") is not None:
        parts = [record.get("FirstName"), record.get("LastName")]
        record["Name"] = " ".join(p for p in parts if p) or None
    if schema.get("Size_Band__c") is not None:
        employees = record.get("NumberOfEmployees")
        record["Size_Band__c"] = (
            None if employees is None else ("Large" if employees >= 1000 else "Small")
        )
