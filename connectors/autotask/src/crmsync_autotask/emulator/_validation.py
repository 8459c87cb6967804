"""What the emulated API checks in a write body, the way Autotask's deserializer and
business rules refuse it (HTTP 500 ``{"errors": [...]}``)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from crmsync_autotask._values import parse_datetime
from crmsync_autotask.emulator._answers import errors as _errors
from crmsync_autotask.emulator._schema import EntitySchema, Field

__all__ = ["typed", "udf_values", "validate"]


def udf_values(schema: EntitySchema, value: Any) -> dict[str, Any]:
    """The ``userDefinedFields`` of a write body as name -> value (strings).

    :raises Answer: an entry Autotask refuses (unknown UDF, bad choice, too long).
    """
    if not isinstance(value, list):
        raise _errors("userDefinedFields must be an array of {name, value} objects.")
    found: dict[str, Any] = {}
    for entry in value:
        if not isinstance(entry, dict):
            raise _errors("userDefinedFields must be an array of {name, value} objects.")
        lowered = {str(k).lower(): v for k, v in entry.items()}
        udf = schema.udf(str(lowered.get("name") or ""))
        if udf is None:
            raise _errors(f"Unable to find user-defined field {lowered.get('name')}.")
        raw = lowered.get("value")
        choices = {str(v) for v, _ in udf.picklist or ()}
        if raw is not None and udf.picklist is not None and str(raw) not in choices:
            raise _errors(f"The value '{raw}' is not a valid option for {udf.name}.")
        if raw is not None and udf.type == "integer":
            try:
                int(str(raw))
            except ValueError:
                raise _errors(f"The value '{raw}' is not valid for {udf.name}.") from None
        if raw is not None and len(str(raw)) > max(udf.length, 0) > 0:
            raise _errors(f"The value for {udf.name} exceeds the maximum length.")
        found[udf.name] = None if raw is None else str(raw)
    return found


def typed(spec: Field, value: Any) -> Any:
    """What JSON.NET makes of ``value`` for a property of ``spec``'s type."""
    if value is None:
        return None
    where = f"Path '{spec.name}'"
    kind = spec.data_type
    if kind in {"integer", "long", "short"}:
        if isinstance(value, bool):
            first = "t" if value else "f"
            raise _errors(
                f"Unexpected character encountered while parsing value: {first}. {where}."
            )
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise _errors(f"Could not convert string to integer: {value}. {where}.")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return bool(value)
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise _errors(f"Could not convert string to boolean: {value}. {where}.")
    if kind in {"double", "decimal"}:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _errors(f"Could not convert to decimal: {value}. {where}.")
        try:
            return float(value)
        except ValueError:
            raise _errors(f"Could not convert string to decimal: {value}. {where}.") from None
    if kind in {"datetime", "date"}:
        try:
            return parse_datetime(str(value))
        except ValueError:
            raise _errors(f"Could not convert string to DateTime: {value}. {where}.") from None
    if isinstance(value, dict | list):
        raise _errors(f"Unexpected character encountered while parsing value. {where}.")
    return value if isinstance(value, str) else json.dumps(value)


def validate(
    key: str,
    schema: EntitySchema,
    values: dict[str, Any],
    *,
    companies: Collection[int],
    resources: Collection[int],
) -> None:
    """Required fields, lengths, picklist choices and references of a record about to
    be stored.

    :raises Answer: the first problem, as Autotask words it.
    """
    missing = [
        spec.name
        for spec in schema.fields
        if spec.required and (values.get(spec.name) is None or values.get(spec.name) == "")
    ]
    if missing:
        raise _errors(f"The following required fields are missing: {', '.join(missing)}.")
    for spec in schema.fields:
        value = values.get(spec.name)
        if value is None:
            continue
        if spec.data_type == "string" and spec.length and len(str(value)) > spec.length:
            raise _errors(
                f"The value for {spec.name} exceeds the maximum length of {spec.length}."
            )
        if spec.picklist is not None and int(value) not in {v for v, _ in spec.picklist}:
            raise _errors(f"Value does not reference an existing entity for {spec.name} . ")
        if spec.reference == "Company" and int(value) not in companies:
            raise _errors(f"Value does not reference an existing entity for {spec.name} . ")
        if spec.reference == "Resource" and int(value) not in resources:
            raise _errors(f"Value does not reference an existing entity for {spec.name} . ")
    if key == "contacts" and values.get("isActive") not in {0, 1}:
        raise _errors("isActive must be 0 or 1.")
