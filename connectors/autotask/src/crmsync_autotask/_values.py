"""Autotask wire values <-> crmsync canonical values, and metadata type mapping.

Autotask stores every datetime in UTC but writes it in several forms: with ``Z``, with an
offset, or with no designator at all and 0 to 7 fractional digits
(``2016-03-30T13:10:35.563``, ``2018-11-13T17:32:34``). All of them are read here; a
missing designator means UTC (fact sheet section 4).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re
from typing import Any

from crmsync.contract import FieldType

__all__ = [
    "FIELD_TYPES",
    "format_datetime",
    "parse_datetime",
]

FIELD_TYPES: dict[str, FieldType] = {
    "string": FieldType.STRING,
    "integer": FieldType.INTEGER,
    "short": FieldType.INTEGER,
    "long": FieldType.INTEGER,
    "double": FieldType.NUMBER,
    "decimal": FieldType.NUMBER,
    "boolean": FieldType.BOOLEAN,
    "datetime": FieldType.DATETIME,
    "date": FieldType.DATE,
}

_STAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)(?:\.(?P<frac>\d{1,7}))?)?"
    r"(?P<zone>Z|z|[+-]\d{2}:?\d{2})?$"
)


@functools.lru_cache(maxsize=4096)
def parse_datetime(text: str) -> dt.datetime:
    """Any Autotask datetime form as an aware UTC datetime (no designator = UTC).

    :raises ValueError: the text is not an ISO 8601 date or date-time.
    """
    found = _STAMP.match(text.strip())
    if found is None:
        raise ValueError(f"not an Autotask datetime: {text!r}")
    clock = found["time"] or "00:00:00"
    if len(clock) == 5:
        clock += ":00"
    micro = (found["frac"] or "").ljust(6, "0")[:6]
    zone = found["zone"] or "+00:00"
    if zone in {"Z", "z"}:
        zone = "+00:00"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    value = dt.datetime.fromisoformat(f"{found['date']}T{clock}.{micro}{zone}")
    return value.astimezone(dt.UTC)


def format_datetime(value: dt.datetime) -> str:
    """An aware (or UTC-assumed naive) datetime as Autotask reads it in filters and
    bodies: UTC, microseconds, ``Z`` (the form django-autotask sends)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_blank(value: Any) -> bool:
    """Autotask writes unset text as ``null`` or ``""`` inconsistently: both are blank."""
    return value is None or (isinstance(value, str) and not value.strip())


def number(value: Any) -> Any:
    """A JSON number as int when whole, else Decimal (money and quantities)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else decimal.Decimal(str(value))
    return value
