"""Values read back conform to what ``list_fields`` declared: type, length, picklist."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from crmsync.contract import FieldSpec, FieldType
from crmsync.plugins import Connection
from crmsync.testing.kit._base import ContractBase, check, read_feed, seed
from crmsync.testing.kit._sandbox import Sandbox

_TEXT = {
    FieldType.STRING,
    FieldType.TEXT,
    FieldType.EMAIL,
    FieldType.PHONE,
    FieldType.URL,
    FieldType.PICKLIST,
    FieldType.ID,
    FieldType.REFERENCE,
}


def nonconformity(spec: FieldSpec, value: Any) -> str | None:
    """Why ``value`` read from field ``spec`` breaks its declaration, or ``None``."""
    if value is None:
        return None
    kind = spec.type
    if kind in _TEXT and not isinstance(value, str):
        return f"a {kind.value} field holds {type(value).__name__} {value!r}"
    if kind is FieldType.MULTIPICKLIST and not (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        return f"a multipicklist holds {value!r} (a list of str is canonical)"
    if kind is FieldType.BOOLEAN and not isinstance(value, bool):
        return f"a boolean field holds {type(value).__name__} {value!r}"
    if kind is FieldType.INTEGER and (
        isinstance(value, bool) or not isinstance(value, int)
    ):
        return f"an integer field holds {type(value).__name__} {value!r}"
    if kind is FieldType.NUMBER and (
        isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal)
    ):
        return f"a number field holds {type(value).__name__} {value!r}"
    if kind is FieldType.DATE and (
        isinstance(value, dt.datetime) or not isinstance(value, dt.date)
    ):
        return f"a date field holds {type(value).__name__} {value!r}"
    if kind is FieldType.DATETIME and (
        not isinstance(value, dt.datetime) or value.tzinfo is None
    ):
        return f"a datetime field holds {value!r} (an aware datetime is canonical)"
    if spec.length is not None and isinstance(value, str) and len(value) > spec.length:
        return f"{len(value)} characters, over the declared length {spec.length}"
    if spec.restricted_picklist and spec.picklist_values:
        chosen = value if isinstance(value, list) else [value]
        outside = [v for v in chosen if v not in spec.picklist_values]
        if outside:
            return f"{outside!r} is not among the declared picklist values"
    return None


class ConformityChecks(ContractBase):
    """What ``fetch_changed`` returns matches ``list_fields``."""

    def test_values_read_back_conform_to_list_fields(
        self, connection: Connection, sandbox: Sandbox, specs: list[FieldSpec]
    ) -> None:
        seed(sandbox, 3)
        read = read_feed(
            connection,
            sandbox.object_name,
            cursor=None,
            page_size=sandbox.page_size,
            fields=[spec.name for spec in specs],
        )
        by_name = {spec.name: spec for spec in specs}
        wrong = []
        for record_id, values in read.values().items():
            for name, value in values.items():
                spec = by_name.get(name)
                problem = nonconformity(spec, value) if spec is not None else None
                if problem is not None:
                    wrong.append(f"{record_id}.{name}: {problem}")
        check(
            not wrong,
            "values read back have the type, length and picklist values list_fields "
            "declared",
            "\n".join(wrong[:20]),
        )
