"""Round trips: what the engine writes is what it reads back, in canonical form.

For each writable field the kit generates values from its ``FieldSpec`` (unicode, text
at the length limit, blanks, dates, datetimes in a non-UTC zone, booleans, numbers,
picklist choices), writes each one into its own seeded record in as few batches as the
connector allows, reads the records back and compares them the way the sync rules
compare values: datetimes as instants, numbers as numbers, multi-selects as sets, blanks
as blanks.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest

from crmsync.contract import FieldSpec, FieldType, WriteRequest
from crmsync.plugins import Connection
from crmsync.testing.kit._base import (
    ContractBase,
    broke,
    check,
    is_blank,
    read_feed,
    seed,
)
from crmsync.testing.kit._sandbox import Sandbox

UNICODE = "Zoë Ñandú-Øster 東京 Ωmega"
PLUS_TWO = dt.timezone(dt.timedelta(hours=2))
PLUS_FIVE_THIRTY = dt.timezone(dt.timedelta(hours=5, minutes=30))


def sample_values(spec: FieldSpec) -> list[Any]:
    """Canonical values worth round-tripping through ``spec`` (``None`` is the
    blank)."""
    blank: list[Any] = [] if spec.required_on_create else [None]
    kind, length = spec.type, spec.length
    if kind in (FieldType.STRING, FieldType.TEXT):
        texts = [UNICODE[: length or None]]
        if length and length <= 32_000:
            texts.append("x" * length)
        return texts + blank
    if kind is FieldType.EMAIL:
        return ["round.trip+kit@example.com", *blank]
    if kind is FieldType.PHONE:
        return ["+1 555 0100", *blank]
    if kind is FieldType.URL:
        return ["https://example.com/kit?q=1", *blank]
    if kind is FieldType.PICKLIST:
        return [*spec.picklist_values[:1], *blank] if spec.picklist_values else blank
    if kind is FieldType.MULTIPICKLIST:
        return (
            [list(spec.picklist_values[:2]), *blank] if spec.picklist_values else blank
        )
    if kind is FieldType.BOOLEAN:
        return [True, False]
    if kind is FieldType.INTEGER:
        return [42, -7, 0, *blank]
    if kind is FieldType.NUMBER:
        return [1234.5, 0, *blank]
    if kind is FieldType.DATE:
        return [dt.date(2024, 2, 29), dt.date(1999, 12, 31), *blank]
    if kind is FieldType.DATETIME:
        return [
            dt.datetime(2024, 5, 1, 14, 30, 15, tzinfo=PLUS_TWO),
            dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=PLUS_FIVE_THIRTY),
            *blank,
        ]
    return []


def same(spec: FieldSpec, sent: Any, got: Any) -> bool:
    """Whether ``got`` is ``sent`` in canonical form, compared as the sync rules
    compare."""
    if is_blank(sent):
        return is_blank(got)
    kind = spec.type
    if kind is FieldType.DATETIME:
        return isinstance(got, dt.datetime) and got.tzinfo is not None and got == sent
    if kind is FieldType.DATE:
        return (
            isinstance(got, dt.date)
            and not isinstance(got, dt.datetime)
            and got == sent
        )
    if kind is FieldType.BOOLEAN:
        return isinstance(got, bool) and got is sent
    if kind is FieldType.INTEGER:
        return isinstance(got, int) and not isinstance(got, bool) and got == sent
    if kind is FieldType.NUMBER:
        if isinstance(got, bool) or not isinstance(got, int | float | decimal.Decimal):
            return False
        return decimal.Decimal(str(got)) == decimal.Decimal(str(sent))
    if kind is FieldType.MULTIPICKLIST:
        return isinstance(got, list) and sorted(got) == sorted(sent)
    return isinstance(got, str) and got == sent


class ValueChecks(ContractBase):
    """Values survive a write and a read unchanged."""

    def test_values_round_trip(
        self, connection: Connection, sandbox: Sandbox, specs: list[FieldSpec]
    ) -> None:
        wanted = sandbox.roundtrip_fields
        by_name = {spec.name: spec for spec in specs}
        unknown = [name for name in wanted or () if name not in by_name]
        check(
            not unknown,
            "sandbox.roundtrip_fields names fields of the object",
            f"{unknown}",
        )
        chosen = (
            [by_name[n] for n in wanted]
            if wanted
            else [s for s in specs if not s.read_only]
        )
        cases = [(spec, value) for spec in chosen for value in sample_values(spec)]
        if not cases:
            pytest.skip("no writable field of a type the kit can generate values for")
        ids = seed(sandbox, len(cases))
        requests = [
            WriteRequest(
                ref=f"rt-{n}",
                op="update",
                record_id=record_id,
                values={spec.name: value},
            )
            for n, (record_id, (spec, value)) in enumerate(zip(ids, cases, strict=True))
        ]
        size = connection.description.max_batch_size
        refused = []
        for start in range(0, len(requests), size):
            for result, (spec, value) in zip(
                connection.push_updates(
                    sandbox.object_name, requests[start : start + size]
                ),
                cases[start : start + size],
                strict=True,
            ):
                if not result.ok:
                    refused.append(f"{spec.name}={value!r}: {result.error}")
        check(
            not refused,
            "canonical values of each field type are accepted",
            "\n".join(refused),
        )
        read = read_feed(
            connection,
            sandbox.object_name,
            cursor=None,
            page_size=connection.description.max_page_size,
            fields=[spec.name for spec in chosen],
        )
        seen = read.values()
        wrong = []
        for record_id, (spec, value) in zip(ids, cases, strict=True):
            if record_id not in seen:
                broke("an updated record is in the feed", record_id)
            got = seen[record_id].get(spec.name)
            if not same(spec, value, got):
                wrong.append(
                    f"{spec.name} ({spec.type.value}): wrote {value!r}, read {got!r}"
                )
        check(not wrong, "values round-trip in canonical form", "\n".join(wrong))
