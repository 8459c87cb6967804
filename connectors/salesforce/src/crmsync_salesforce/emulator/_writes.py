"""Record validation and storage rules of the emulated org (what a save enforces)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crmsync_salesforce.emulator._ids import is_valid_id, to_18
from crmsync_salesforce.emulator._schema import FieldDef, ObjectSchema
from crmsync_salesforce.emulator._soql import parse_datetime

__all__ = [
    "ReferenceCheck",
    "RequestError",
    "ValidationRule",
    "apply_computed",
    "coerce_values",
    "format_datetime",
    "json_parser_error",
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


def json_parser_error(message: str) -> RequestError:
    """The 400 Salesforce answers for a body it cannot read as the record it expects."""
    return RequestError(400, "JSON_PARSER_ERROR", f"{message} at [line:1, column:1]")


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    return "number" if isinstance(value, int | float) else "object"


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
        if not isinstance(number, int | float) or not math.isfinite(number):
            raise _parser_error(item, value)
        if kind == "int":
            if float(number) != int(number):
                raise _parser_error(item, value)
            return int(number)
        if item.precision:
            # Salesforce keeps ``scale`` decimals, rounding half up (2.345 -> 2.35).
            step = decimal.Decimal(1).scaleb(-item.scale)
            exact = decimal.Decimal(str(number)).quantize(step, rounding=decimal.ROUND_HALF_UP)
            return float(exact)
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
    """Map a request body onto fields, refusing a body that is not a JSON object, a bad
    ``attributes`` member, a field named twice (in any case), unknown columns and wrong
    JSON types: Salesforce reads the whole body before it saves anything."""
    if not isinstance(values, Mapping):
        raise json_parser_error(
            f"Cannot deserialize instance of {schema.name} from {_json_kind(values)} value; "
            "the body must be a JSON object"
        )
    attributes = values.get("attributes")
    if "attributes" in values and (
        not isinstance(attributes, Mapping)
        or not all(isinstance(attributes.get(k, ""), str) for k in ("type", "url"))
    ):
        raise json_parser_error(
            'attributes must be an object such as {"type": "' + schema.name + '"}'
        )
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
        if item in out:
            raise json_parser_error(f"Duplicate field '{item.name}'")
        out[item] = _coerce(item, value)
    return out


def _error(code: str, message: str, fields: list[str]) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": fields}


ReferenceCheck = Callable[[FieldDef, str], tuple[str, str] | None]
"""``(field, id18) -> (statusCode, message)`` when the id names no record the field may
point at (checked against the org's records), else ``None``."""


def _out_of_range(item: FieldDef, value: Any) -> bool:
    """Whether a number has more integer digits than describe allows (``digits`` for
    ``int``, ``precision - scale`` for the decimal types)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if item.type == "int" and item.digits:
        return bool(abs(value) >= 10**item.digits)
    if item.type in {"double", "currency", "percent"} and item.precision:
        return bool(abs(value) >= 10 ** (item.precision - item.scale))
    return False


def record_errors(
    schema: ObjectSchema,
    values: Mapping[FieldDef, Any],
    merged: Mapping[str, Any],
    *,
    creating: bool,
    rules: list[ValidationRule],
    references: ReferenceCheck | None = None,
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
            item.type == "reference"
            and references is not None
            and (problem := references(item, value)) is not None
        ):
            errors.append(_error(problem[0], problem[1], [item.name]))
        elif _out_of_range(item, value):
            errors.append(
                _error(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{item.label}: value outside of valid range on numeric field: {value}",
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
    # A field that may not hold null refuses an explicit one, defaulted or boolean alike
    # (describe: nillable false); a required field must hold a value after the save.
    cleared = {item.name for item, value in values.items() if value is None and not item.nillable}
    missing = [
        item.name
        for item in schema.fields.values()
        if item.name in cleared
        or (
            item.createable
            and not item.nillable
            and not item.defaulted_on_create
            and item.type != "boolean"
            and (merged.get(item.name) is None or str(merged.get(item.name)).strip() == "")
        )
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
