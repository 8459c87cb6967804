"""Blank values, type conversion between mapped fields, and comparison after conversion.

Two values are equal when they denote the same thing once the mapping's types are
applied: a CRM datetime and a platform datetime at the same instant, ``"42"`` and ``42``
on a text-to-number mapping, ``"a;b"`` and ``["b", "a"]`` on a multi-select. Formatting
differences must never cause a write, so every comparison goes through
:func:`normalize`.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable
from typing import Any

from crmsync.contract.models import FieldType
from crmsync.errors import ConversionError

__all__ = [
    "ConversionError",
    "can_convert",
    "convert",
    "is_blank",
    "normalize",
]

_TEXT = frozenset(
    {
        FieldType.STRING,
        FieldType.TEXT,
        FieldType.EMAIL,
        FieldType.PHONE,
        FieldType.URL,
        FieldType.PICKLIST,
        FieldType.ID,
        FieldType.REFERENCE,
        FieldType.OTHER,
    }
)
_NUMERIC = frozenset({FieldType.INTEGER, FieldType.NUMBER})
_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})

# Which target types each source type may feed: text reaches everything (checked per
# value), numbers, booleans and dates only their own kind and text.
_CONVERTIBLE: dict[FieldType, frozenset[FieldType]] = {
    **{text: frozenset(FieldType) for text in _TEXT},
    FieldType.INTEGER: _TEXT | _NUMERIC | {FieldType.BOOLEAN},
    FieldType.NUMBER: _TEXT | _NUMERIC,
    FieldType.BOOLEAN: _TEXT | {FieldType.BOOLEAN, FieldType.INTEGER},
    FieldType.DATE: _TEXT | {FieldType.DATE, FieldType.DATETIME},
    FieldType.DATETIME: _TEXT | {FieldType.DATE, FieldType.DATETIME},
    FieldType.MULTIPICKLIST: _TEXT | {FieldType.MULTIPICKLIST},
}


def is_blank(value: Any) -> bool:
    """``None``, an empty or whitespace-only string, or an empty multi-select."""
    if value is None:
        return True
    if type(value) is str or isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | frozenset):
        return all(is_blank(item) for item in value)
    return False


def can_convert(source: FieldType, target: FieldType) -> bool:
    """Whether a mapping from a ``source`` field to a ``target`` field can convert."""
    return target in _CONVERTIBLE.get(source, frozenset())


def convert(value: Any, source: FieldType, target: FieldType) -> Any:
    """``value`` of a ``source`` field, as a canonical value of a ``target`` field.

    :raises ConversionError: the value has no representation in ``target`` (``"abc"``
        into a number, ``3.5`` into an integer).
    """
    if is_blank(value):
        return None
    del (
        source
    )  # the value's own Python type says what it is; kept for symmetry and errors
    try:
        return _CONVERTERS[target](value)
    except (ValueError, TypeError, decimal.InvalidOperation, ArithmeticError) as error:
        raise ConversionError(
            f"{value!r} is not a valid {target.value}: {error}"
        ) from None


def normalize(value: Any, field_type: FieldType) -> Any:
    """The comparable form of a value of ``field_type``; blanks become ``None``.

    Raw values that do not convert are compared as they are (so a bad value never equals
    a good one, and never raises in the middle of a decision).
    """
    if is_blank(value):
        return None
    try:
        converted = convert(value, field_type, field_type)
    except ConversionError:
        return value
    if field_type is FieldType.EMAIL:
        return converted.strip().casefold()
    if field_type is FieldType.MULTIPICKLIST:
        return tuple(sorted(converted))
    if field_type in _NUMERIC:
        return decimal.Decimal(str(converted)).normalize()
    return converted


# -- converters, one per target type
# -------------------------------------------------------
def _to_text(value: Any) -> str:
    if type(value) is str:  # most values of most records: nothing to convert
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return _to_datetime(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float | decimal.Decimal):
        number = decimal.Decimal(str(value)).normalize()
        return format(number, "f")
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(str(item) for item in value)
    return str(value)


def _to_integer(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    number = decimal.Decimal(str(value).strip())
    if number != number.to_integral_value():
        raise ValueError("not a whole number")
    return int(number)


def _to_number(value: Any) -> int | float:
    # Canonical numbers are JSON-friendly (int or float); comparison uses Decimal
    # (normalize).
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    number = decimal.Decimal(str(value).strip())
    if not number.is_finite():
        raise ValueError("not a finite number")
    if number == number.to_integral_value():
        return int(number)
    return float(number)


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a boolean")


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return _to_datetime(value).date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if len(text) > 10:
        return _to_datetime(text).date()
    return dt.date.fromisoformat(text)


def _to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        # Salesforce writes "+0000"; fromisoformat wants "+00:00" before Python 3.11
        # handles it.
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _to_multipicklist(value: Any) -> list[str]:
    items: Iterable[Any] = value.split(";") if isinstance(value, str) else value
    return [str(item).strip() for item in items if not is_blank(item)]


_CONVERTERS: dict[FieldType, Any] = {
    **{text: _to_text for text in _TEXT},
    FieldType.INTEGER: _to_integer,
    FieldType.NUMBER: _to_number,
    FieldType.BOOLEAN: _to_boolean,
    FieldType.DATE: _to_date,
    FieldType.DATETIME: _to_datetime,
    FieldType.MULTIPICKLIST: _to_multipicklist,
}
