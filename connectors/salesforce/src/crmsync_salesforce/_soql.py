"""SOQL building: identifier checks, literal escaping, keyset filters, IN-list chunking."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence

from crmsync.contract import Cursor
from crmsync.errors import PermanentError

__all__ = ["check_name", "datetime_literal", "in_chunks", "keyset", "quote", "select"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    '"': '\\"',
}


def check_name(name: str) -> str:
    """An API name safe to splice into SOQL (letters, digits, underscores), else refused."""
    if not _NAME.match(name):
        raise PermanentError(
            f"{name!r} is not a valid Salesforce field or object name",
            code="INVALID_FIELD",
            field=name,
            connector="salesforce",
        )
    return name


def quote(value: str) -> str:
    """A SOQL string literal: single quotes, with ``\\`` and ``'`` (and control chars) escaped."""
    return "'" + "".join(_ESCAPES.get(char, char) for char in value) + "'"


def datetime_literal(value: dt.datetime) -> str:
    """An unquoted SOQL datetime literal in UTC (``Z``), at second precision, rounded
    down.

    Salesforce compares SystemModstamp as whole seconds; rounding a fractional cursor
    down can only re-read rows, never skip them.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def keyset(cursor: Cursor | None) -> str | None:
    """The WHERE condition resuming a ``(SystemModstamp, Id)`` feed after ``cursor``."""
    if cursor is None or cursor.modified_at is None:
        return None
    moment = datetime_literal(cursor.modified_at)
    if cursor.record_id:
        return (
            f"(SystemModstamp > {moment} OR (SystemModstamp = {moment} "
            f"AND Id > {quote(cursor.record_id)}))"
        )
    return f"SystemModstamp >= {moment}"


def select(
    fields: Sequence[str],
    object_name: str,
    where: Sequence[str] = (),
    order_by: str | None = None,
) -> str:
    conditions = [w for w in where if w]
    soql = f"SELECT {', '.join(fields)} FROM {object_name}"
    if conditions:
        soql += " WHERE " + " AND ".join(conditions)
    if order_by:
        soql += f" ORDER BY {order_by}"
    return soql


def in_chunks(values: Sequence[str], budget: int = 3000) -> Iterator[list[str]]:
    """Quoted values grouped so each ``IN (...)`` list stays under ``budget``
    characters.

    Salesforce caps URI + headers at 16 KB and advises ~2,000-char URIs;
    percent-encoding can triple a literal, so the default keeps each query well inside
    the hard limit.
    """
    chunk: list[str] = []
    size = 0
    for value in values:
        literal = quote(value)
        if chunk and size + len(literal) + 1 > budget:
            yield chunk
            chunk, size = [], 0
        chunk.append(literal)
        size += len(literal) + 1
    if chunk:
        yield chunk
