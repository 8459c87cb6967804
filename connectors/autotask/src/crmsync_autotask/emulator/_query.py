"""The Autotask query language: filter conditions, groups, operators and projection.

Semantics as the fact sheet (section 4) gives them: top-level conditions are ANDed,
``and``/``or`` groups nest through ``items``, field names and body keys match
case-insensitively, one ``udf: true`` condition at most, booleans only as JSON
``true``/``false``, at most 500 OR-ed conditions. Every refusal is a
:class:`QueryError`, answered as HTTP 500 ``{"errors": [...]}``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from crmsync_autotask._values import parse_datetime
from crmsync_autotask.emulator._schema import EntitySchema

__all__ = ["QueryError", "body_key", "compile_filter"]

OPERATORS = {
    "eq",
    "noteq",
    "gt",
    "gte",
    "lt",
    "lte",
    "beginswith",
    "endswith",
    "contains",
    "exist",
    "notexist",
    "in",
    "notin",
}
MAX_OR_CONDITIONS = 500

Predicate = Callable[[dict[str, Any]], bool]


class QueryError(Exception):
    """A query the service refuses (HTTP 500 with this text in ``errors``)."""


def body_key(body: dict[str, Any], name: str) -> Any:
    """A top-level body key, matched case-insensitively (``filter``/``Filter``)."""
    lowered = name.lower()
    for key, value in body.items():
        if str(key).lower() == lowered:
            return value
    return None


class _Compiler:
    def __init__(self, schema: EntitySchema) -> None:
        self.schema = schema
        self.udf_conditions = 0
        self.or_conditions = 0

    def condition(self, item: Any) -> Predicate:
        if not isinstance(item, dict):
            raise QueryError("Invalid filter: each condition must be an object.")
        lowered = {str(k).lower(): v for k, v in item.items()}
        op = str(lowered.get("op") or "").lower()
        if op in {"and", "or"}:
            children = lowered.get("items")
            if not isinstance(children, list) or not children:
                raise QueryError(f"Invalid filter: the '{op}' group needs items.")
            compiled = [self.condition(child) for child in children]
            if op == "or":
                self.or_conditions += len(compiled)
                return lambda row: any(p(row) for p in compiled)
            return lambda row: all(p(row) for p in compiled)
        if op not in OPERATORS:
            raise QueryError(f"Invalid filter operator: '{lowered.get('op')}'.")
        name = str(lowered.get("field") or "")
        if lowered.get("udf") is True:
            self.udf_conditions += 1
            if self.udf_conditions > 1:
                raise QueryError("Only one user-defined field condition is allowed per query.")
            udf = self.schema.udf(name)
            if udf is None:
                raise QueryError(f"Unable to find {name} in the Entity.")
            return self._compare(op, lowered, udf.type, lambda row: _udf_value(row, udf.name))
        spec = self.schema.field(name)
        if spec is None:
            raise QueryError(f"Unable to find {name} in the Entity.")
        if not spec.queryable:
            raise QueryError(f"The field {spec.name} is not queryable.")
        key = spec.name
        return self._compare(op, lowered, spec.data_type, lambda row: row.get(key), spec.name)

    def _compare(
        self,
        op: str,
        cond: dict[str, Any],
        data_type: str,
        read: Callable[[dict[str, Any]], Any],
        name: str = "",
    ) -> Predicate:
        if op == "exist":
            return lambda row: not _blank(read(row))
        if op == "notexist":
            return lambda row: _blank(read(row))
        if "value" not in cond:
            raise QueryError(f"Invalid filter: operator '{op}' needs a value.")
        raw = cond["value"]
        if op in {"in", "notin"}:
            if not isinstance(raw, list):
                raise QueryError(f"Invalid filter: operator '{op}' needs an array value.")
            self.or_conditions += len(raw)
            wanted = [self._value(v, data_type, name) for v in raw]
            keys = {_key(v) for v in wanted}
            if op == "in":
                return lambda row: _key(_cast(read(row), data_type)) in keys
            return lambda row: _key(_cast(read(row), data_type)) not in keys
        value = self._value(raw, data_type, name)
        if op in {"beginswith", "endswith", "contains"}:
            needle = str(value).lower()

            def text(row: dict[str, Any]) -> bool:
                got = read(row)
                if got is None:
                    return False
                hay = str(got).lower()
                if op == "beginswith":
                    return hay.startswith(needle)
                if op == "endswith":
                    return hay.endswith(needle)
                return needle in hay

            return text

        def compare(row: dict[str, Any]) -> bool:
            got = _cast(read(row), data_type)
            if op == "eq":
                return bool(_key(got) == _key(value))
            if op == "noteq":
                return bool(_key(got) != _key(value))
            if got is None or value is None:
                return False
            try:
                if op == "gt":
                    return bool(got > value)
                if op == "gte":
                    return bool(got >= value)
                if op == "lt":
                    return bool(got < value)
                return bool(got <= value)
            except TypeError:
                return False

        return compare

    def _value(self, raw: Any, data_type: str, name: str) -> Any:
        if data_type == "boolean" or (name == "isActive" and isinstance(raw, bool)):
            if not isinstance(raw, bool):
                raise QueryError(
                    f"Invalid value for boolean field {name}: use true or false."
                )
            return int(raw) if data_type != "boolean" else raw
        if raw is None:
            raise QueryError(f"Invalid filter value for {name}: null.")
        if data_type in {"datetime", "date"}:
            try:
                return parse_datetime(str(raw))
            except ValueError:
                raise QueryError(f"Invalid date value for {name}: '{raw}'.") from None
        if data_type in {"integer", "long", "short"}:
            try:
                return int(raw)
            except (TypeError, ValueError):
                raise QueryError(f"Invalid integer value for {name}: '{raw}'.") from None
        if data_type in {"double", "decimal"}:
            try:
                return float(raw)
            except (TypeError, ValueError):
                raise QueryError(f"Invalid number value for {name}: '{raw}'.") from None
        return str(raw)


def _udf_value(row: dict[str, Any], name: str) -> Any:
    """A stored record's UDF value (the emulator keeps UDFs as a name -> value dict)."""
    udfs = row.get("userDefinedFields") or {}
    return next((v for k, v in udfs.items() if k.lower() == name.lower()), None)


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _cast(value: Any, data_type: str) -> Any:
    if value is None or value == "":
        return None
    if data_type in {"datetime", "date"} and isinstance(value, str):
        return parse_datetime(value)
    if data_type in {"integer", "long", "short"} and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    if isinstance(value, bool) and data_type != "boolean":
        return int(value)
    return value


def _key(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, dt.datetime):
        return value
    return value


def compile_filter(schema: EntitySchema, conditions: Any) -> Predicate:
    """The filter list as one predicate over stored (wire) records.

    :raises QueryError: anything the service refuses.
    """
    if conditions is None or conditions == []:
        raise QueryError("A query requires a filter.")
    if isinstance(conditions, dict):
        conditions = [conditions]
    if not isinstance(conditions, list):
        raise QueryError("Invalid filter: expected an array of conditions.")
    compiler = _Compiler(schema)
    compiled = [compiler.condition(item) for item in conditions]
    if compiler.or_conditions > MAX_OR_CONDITIONS:
        raise QueryError("Queries are limited to 500 or fewer 'OR' conditions.")
    return lambda row: all(p(row) for p in compiled)
