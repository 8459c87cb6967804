"""The slice of COQL the emulator understands: equality / ``in`` lookups on one field.

``select f1, f2 from Leads where Email in ('a@x.com', 'b@x.com') limit 200 offset 0``;
values are single-quoted with ``\\'`` escapes, as COQL writes them. Anything else is a
400 ``SYNTAX_ERROR`` naming the clause, as Zoho answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["CoqlError", "CoqlQuery", "parse_coql"]

_QUERY = re.compile(
    r"^\s*select\s+(?P<fields>.+?)\s+from\s+(?P<module>\w+)\s+where\s+(?P<field>\w+)\s*"
    r"(?:(?P<eq>=)\s*(?P<one>'(?:[^'\\]|\\.)*')|in\s*\((?P<many>.*?)\))"
    r"(?:\s+limit\s+(?P<limit>\d+)(?:\s+offset\s+(?P<offset>\d+))?)?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_VALUE = re.compile(r"\s*'((?:[^'\\]|\\.)*)'\s*(?:,|$)")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class CoqlError(Exception):
    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


@dataclass(frozen=True)
class CoqlQuery:
    fields: list[str]
    module: str
    where_field: str
    values: list[str]
    limit: int
    offset: int


def _values(text: str) -> list[str]:
    values: list[str] = []
    position = 0
    while position < len(text):
        match = _VALUE.match(text, position)
        if match is None:
            raise CoqlError("SYNTAX_ERROR", "error occured while parsing the query",
                            clause="where")
        values.append(re.sub(r"\\(.)", r"\1", match.group(1)))
        position = match.end()
    return values


def parse_coql(text: str, *, max_limit: int) -> CoqlQuery:
    match = _QUERY.match(text)
    if match is None:
        raise CoqlError("SYNTAX_ERROR", "error occured while parsing the query", clause="select")
    fields = [f.strip() for f in match.group("fields").split(",")]
    if not fields or not all(_NAME.match(f) for f in fields):
        raise CoqlError("SYNTAX_ERROR", "error occured while parsing the query", clause="select")
    if len(fields) > 50:
        raise CoqlError("LIMIT_EXCEEDED", "select column limit exceeded", limit=50)
    values = _values(match.group("one")) if match.group("eq") else _values(match.group("many"))
    if not values or len(values) > 50:
        raise CoqlError("LIMIT_EXCEEDED", "in clause limit exceeded", limit=50)
    limit = int(match.group("limit") or 200)
    if limit > max_limit:
        raise CoqlError("LIMIT_EXCEEDED", "limit exceeded", limit=max_limit)
    return CoqlQuery(fields, match.group("module"), match.group("field"), values, limit,
                     int(match.group("offset") or 0))
