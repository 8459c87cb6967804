"""The OData query options the emulator understands: ``$filter``, ``$orderby``,
``$select``.

``$filter`` covers what the fact sheet's section 9 item 6 lists: ``eq ne gt ge lt le``,
``and or not``, parentheses, quoted strings (``''`` escapes a quote), numbers,
``true``/``false``/``null``, unquoted DateTimeOffset literals, GUID literals, lookup
``_x_value`` properties, and ``contains``/``startswith``/``endswith``. String
comparison is case-insensitive, as Dataverse's default collation is.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Filter", "QueryError", "parse_filter", "parse_orderby", "sort_rows"]

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<str>'(?:[^']|'')*')"
    r"|(?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))"
    rf"|(?P<guid>{_GUID})(?![\w-])"
    r"|(?P<num>-?\d+(?:\.\d+)?)(?![\w-])"
    r"|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_./]*)"
    r")"
)
_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCTIONS = {"contains", "startswith", "endswith"}

Row = dict[str, Any]
Predicate = Callable[[Row], bool]


class QueryError(ValueError):
    """A query option Dataverse would refuse: the message is its error message."""


@dataclass(frozen=True)
class Filter:
    """A parsed ``$filter``: a predicate over stored rows and the properties it names."""

    predicate: Predicate
    properties: frozenset[str]


def parse_datetime(text: str) -> dt.datetime:
    """A DateTimeOffset literal (``2024-05-01T12:00:00Z``) as an aware datetime."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise QueryError(f"The DateTimeOffset text '{text}' should be in format ...")
    return value.astimezone(dt.UTC)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise QueryError(f"Syntax error at position {position} in '{text}'.")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


class _Parser:
    def __init__(self, text: str, resolve: Callable[[str], Callable[[Row], Any]]) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0
        self.resolve = resolve
        self.properties: set[str] = set()

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise QueryError(f"Syntax error: unexpected end of '{self.text}'.")
        self.at += 1
        return token

    def expect(self, value: str) -> None:
        _, text = self.take()
        if text != value:
            raise QueryError(f"Syntax error: '{value}' expected at '{text}' in '{self.text}'.")

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        if self.peek() is not None:
            raise QueryError(f"Syntax error at '{self.peek()[1]}' in '{self.text}'.")  # type: ignore[index]
        return predicate

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.peek() == ("word", "or"):
            self.take()
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda row: any(p(row) for p in parts)

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.peek() == ("word", "and"):
            self.take()
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda row: all(p(row) for p in parts)

    def unary(self) -> Predicate:
        if self.peek() == ("word", "not"):
            self.take()
            inner = self.unary()
            return lambda row: not inner(row)
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        kind, text = self.take()
        if kind == "word" and text in _FUNCTIONS:
            return self.function(text)
        left = self.operand(kind, text)
        op_kind, op = self.take()
        if op_kind != "word" or op not in _COMPARISONS:
            raise QueryError(f"Syntax error: operator expected at '{op}' in '{self.text}'.")
        right = self.operand(*self.take())
        return lambda row: _compare(op, left(row), right(row))

    def function(self, name: str) -> Predicate:
        self.expect("(")
        left = self.operand(*self.take())
        self.expect(",")
        right = self.operand(*self.take())
        self.expect(")")

        def test(row: Row) -> bool:
            a, b = left(row), right(row)
            if not isinstance(a, str) or not isinstance(b, str):
                return False
            a, b = a.casefold(), b.casefold()
            if name == "contains":
                return b in a
            if name == "startswith":
                return a.startswith(b)
            return a.endswith(b)

        return test

    def operand(self, kind: str, text: str) -> Callable[[Row], Any]:
        if kind == "str":
            value: Any = text[1:-1].replace("''", "'")
        elif kind == "dt":
            value = parse_datetime(text)
        elif kind == "guid":
            value = text.lower()
        elif kind == "num":
            value = decimal.Decimal(text) if "." in text else int(text)
        elif kind == "word" and text in {"true", "false"}:
            value = text == "true"
        elif kind == "word" and text == "null":
            value = None
        elif kind == "word":
            self.properties.add(text)
            return self.resolve(text)
        else:
            raise QueryError(f"Syntax error at '{text}' in '{self.text}'.")
        return lambda row: value


def _comparable(value: Any) -> Any:
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return decimal.Decimal(str(value))
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in {"eq", "ne"}:
        if left is None or right is None:
            same = left is None and right is None
        else:
            try:
                same = _comparable(left) == _comparable(right)
            except TypeError:
                same = False
        return same if op == "eq" else not same
    if left is None or right is None:
        return False
    try:
        a, b = _comparable(left), _comparable(right)
        if op == "gt":
            return bool(a > b)
        if op == "ge":
            return bool(a >= b)
        if op == "lt":
            return bool(a < b)
        return bool(a <= b)
    except TypeError:
        return False


def parse_filter(text: str, resolve: Callable[[str], Callable[[Row], Any]]) -> Filter:
    """Parse ``$filter``; ``resolve(property)`` returns a getter or raises
    :class:`QueryError` for an unknown property."""
    parser = _Parser(text, resolve)
    predicate = parser.parse()
    return Filter(predicate, frozenset(parser.properties))


def parse_orderby(text: str) -> list[tuple[str, bool]]:
    """``modifiedon asc,leadid desc`` -> ``[("modifiedon", False), ("leadid", True)]``
    (the flag is *descending*)."""
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in {"asc", "desc"}):
            raise QueryError(f"Syntax error in $orderby '{text}'.")
        keys.append((words[0], len(words) == 2 and words[1] == "desc"))
    return keys


def sort_rows(
    rows: list[Row], keys: list[tuple[str, bool]], getter: Callable[[str], Callable[[Row], Any]]
) -> list[Row]:
    """Rows sorted by ``keys`` (nulls first ascending, as SQL Server sorts them)."""
    ordered = list(rows)
    for name, descending in reversed(keys):
        get = getter(name)

        def key(row: Row, get: Callable[[Row], Any] = get) -> tuple[int, Any]:
            value = get(row)
            return (0, 0) if value is None else (1, _comparable(value))

        ordered.sort(key=key, reverse=descending)
    return ordered
