"""Checks of ``push_updates`` (and ``lookup_records``).

Writes are answered record by record, in input order; one bad record never fails the
others; nothing the engine asked for is silently dropped. Where the framework already
guards a rule (answer order, batch size), the check calls the hook directly so the
failure names the connector's rule rather than the framework's guard.
"""

from __future__ import annotations

from typing import Any

import pytest

from crmsync.contract import Capability, FieldSpec, FieldType, WriteRequest, WriteResult
from crmsync.errors import ContractError
from crmsync.plugins import Connection
from crmsync.testing.kit._base import (
    STRINGY,
    ContractBase,
    FeedRead,
    broke,
    check,
    fresh_indices,
    new_records,
    optional,
    read_feed,
    requires,
    seed,
    text_field,
)
from crmsync.testing.kit._sandbox import Sandbox


def push(
    connection: Connection, sandbox: Sandbox, requests: list[WriteRequest]
) -> list[Any]:
    """Call the hook directly (no framework guard), checking only the answer's shape."""
    answer = connection.hook.push_updates(
        object_name=sandbox.object_name, requests=requests
    )
    check(
        isinstance(answer, list) and all(isinstance(r, WriteResult) for r in answer),
        "push_updates returns a list of WriteResult",
        f"got {answer!r}",
    )
    refs = [r.ref for r in answer]
    check(
        refs == [r.ref for r in requests],
        "push_updates answers record by record, in the order of the requests",
        f"requests {[r.ref for r in requests]}\nanswers  {refs}",
    )
    return list(answer)


def update(
    record_id: str, values: dict[str, Any], ref: str | None = None
) -> WriteRequest:
    return WriteRequest(
        ref=ref or f"u-{record_id}", op="update", record_id=record_id, values=values
    )


def create(values: dict[str, Any], ref: str) -> WriteRequest:
    return WriteRequest(ref=ref, op="create", values=values)


def full_read(connection: Connection, sandbox: Sandbox, fields: list[str]) -> FeedRead:
    return read_feed(
        connection,
        sandbox.object_name,
        cursor=None,
        page_size=connection.description.max_page_size,
        fields=fields,
    )


UNKNOWN_FIELD = "NoSuchField__kit"


def _same(value: Any, other: Any) -> bool:
    """Equal as a vendor may store it: text trimmed and case-insensitive."""
    if isinstance(value, str) and isinstance(other, str):
        return value.strip().casefold() == other.strip().casefold()
    return bool(value == other)


def _check_created(
    connection: Connection,
    sandbox: Sandbox,
    created: list[tuple[WriteRequest, WriteResult]],
) -> None:
    """Read the created records back through the feed: each result's id must hold the
    values its own request sent (on the fields that tell the requests apart), so that
    answers paired with the wrong request are caught."""
    names = sorted({name for request, _ in created for name in request.values})
    telling = [
        name
        for name in names
        if all(
            not _same(a.values.get(name), b.values.get(name))
            for i, (a, _) in enumerate(created)
            for b, _ in created[i + 1 :]
        )
    ]
    if not telling:
        return
    seen = full_read(connection, sandbox, telling).values()
    wrong = []
    for request, result in created:
        got = seen.get(result.record_id or "")
        if got is None:
            wrong.append(f"{request.ref} -> {result.record_id}: not in the feed")
            continue
        differ = {
            name: got.get(name)
            for name in telling
            if not _same(request.values.get(name), got.get(name))
        }
        if differ:
            sent = {name: request.values.get(name) for name in differ}
            wrong.append(
                f"{request.ref} -> {result.record_id}: sent {sent}, "
                f"the record holds {differ}"
            )
    check(
        not wrong,
        "a create's result carries the id of the record it created (read back, "
        "each id holds the values its request sent)",
        "\n".join(wrong),
    )


def _failed(result: WriteResult) -> str:
    return f"{result.ref}: {result.error}" if result.error else result.ref


def bad_value(specs: list[FieldSpec]) -> tuple[str, Any]:
    """A value the vendor must refuse: text over its length, or an unknown choice."""
    for spec in specs:
        if (
            spec.type in STRINGY
            and not spec.read_only
            and spec.length
            and spec.type is not FieldType.EMAIL
        ):
            return spec.name, "x" * (spec.length + 1)
    for spec in specs:
        if spec.restricted_picklist and not spec.read_only:
            return spec.name, "NotAChoice__kit"
    pytest.skip("no field with a length or a restricted picklist to put a bad value in")


def read_only_value(spec: FieldSpec) -> Any:
    from crmsync.testing.kit._values import sample_values

    values = [v for v in sample_values(spec) if v is not None]
    return values[0] if values else "kit-read-only"


class WriteChecks(ContractBase):
    """``push_updates`` and ``lookup_records``."""

    def test_push_creates_and_updates_in_input_order(
        self, connection: Connection, sandbox: Sandbox, specs: list[FieldSpec]
    ) -> None:
        first, second = seed(sandbox, 2)
        name = text_field(specs, sandbox).name
        a, b = new_records(sandbox, 2)
        requests = [
            update(second, {name: "Second"}),
            create(a, "c-a"),
            update(first, {name: "First"}),
            create(b, "c-b"),
        ]
        results = push(connection, sandbox, requests)
        failed = [_failed(r) for r in results if not r.ok]
        check(not failed, "valid creates and updates succeed", "\n".join(failed))
        check(
            [results[0].record_id, results[2].record_id] == [second, first],
            "an update's result carries the updated record's id",
            f"got {[results[0].record_id, results[2].record_id]}",
        )
        new_ids = [results[1].record_id, results[3].record_id]
        check(
            all(new_ids)
            and len(set(new_ids)) == 2
            and not {first, second} & set(new_ids),
            "a create's result carries the new record's own id",
            f"got {new_ids}",
        )
        stamps = [r.modified_at for r in results if r.modified_at is not None]
        check(
            all(stamp.tzinfo is not None for stamp in stamps),
            "a write's modification time, when reported, is time-zone aware",
        )
        _check_created(
            connection,
            sandbox,
            [(requests[1], results[1]), (requests[3], results[3])],
        )

    def test_pushed_value_is_seen_by_next_fetch(
        self,
        connection: Connection,
        sandbox: Sandbox,
        specs: list[FieldSpec],
        field_names: list[str],
    ) -> None:
        (target,) = seed(sandbox, 1)
        position = full_read(connection, sandbox, field_names).cursor
        sandbox.advance_clock(1.0)
        name = text_field(specs, sandbox).name
        (values,) = new_records(sandbox, 1)
        results = push(
            connection,
            sandbox,
            [update(target, {name: "Pushed by the kit"}), create(values, "c-new")],
        )
        check(
            all(r.ok for r in results),
            "valid writes succeed",
            "\n".join(_failed(r) for r in results),
        )
        read = read_feed(
            connection,
            sandbox.object_name,
            cursor=position,
            page_size=sandbox.page_size,
            fields=field_names,
        )
        seen = read.values()
        check(
            target in seen and seen[target].get(name) == "Pushed by the kit",
            "a pushed update is seen by the next fetch from the previous cursor",
            f"{target}: {seen.get(target)}",
        )
        check(
            results[1].record_id in seen,
            "a pushed create is seen by the next fetch from the previous cursor",
            f"{results[1].record_id} not in {sorted(seen)}",
        )

    def test_same_update_twice_changes_nothing_more(
        self,
        connection: Connection,
        sandbox: Sandbox,
        specs: list[FieldSpec],
        field_names: list[str],
    ) -> None:
        ids = seed(sandbox, 2)
        name = text_field(specs, sandbox).name
        batch = [update(record_id, {name: f"Twice {record_id}"}) for record_id in ids]
        once = push(connection, sandbox, batch)
        # Read-only fields (a vendor's own "updated at") may move; written ones may not.
        writable = [spec.name for spec in specs if not spec.read_only]
        after_once = full_read(connection, sandbox, writable)
        twice = push(connection, sandbox, batch)
        after_twice = full_read(connection, sandbox, writable)
        check(
            all(r.ok for r in once + twice),
            "repeating an update batch succeeds",
            "\n".join(_failed(r) for r in once + twice if not r.ok),
        )
        check(
            sorted(after_once.record_ids) == sorted(after_twice.record_ids),
            "repeating an update batch creates or removes nothing",
        )
        first, second = after_once.values(), after_twice.values()
        changed = [i for i in first if first[i] != second.get(i)]
        check(
            not changed,
            "repeating an update batch changes no value",
            f"changed: {changed}",
        )

    def test_idempotent_create(
        self, connection: Connection, sandbox: Sandbox, field_names: list[str]
    ) -> None:
        requires(connection, Capability.IDEMPOTENT_CREATE)
        (values,) = new_records(sandbox, 1)
        ref = f"idem-{fresh_indices(1)[0]}"
        first = push(connection, sandbox, [create(values, ref)])[0]
        again = push(connection, sandbox, [create(values, ref)])[0]
        check(
            first.ok and again.ok and first.record_id == again.record_id,
            "with 'idempotent_create', creating the same ref twice yields one record",
            f"first {first}, second {again}",
        )
        ids = full_read(connection, sandbox, field_names).record_ids
        check(ids.count(first.record_id or "") == 1, "the record exists once")

    def test_max_batch_size_is_accepted_and_larger_refused(
        self, connection: Connection, sandbox: Sandbox
    ) -> None:
        size = connection.description.max_batch_size
        if size > 2000:
            pytest.skip(
                f"max_batch_size {size} is too large to exercise in a unit test"
            )
        requests = [
            create(values, f"batch-{n}")
            for n, values in enumerate(new_records(sandbox, size))
        ]
        results = connection.push_updates(sandbox.object_name, requests)
        failed = [_failed(r) for r in results if not r.ok]
        check(
            not failed,
            "a batch of exactly max_batch_size is accepted",
            "\n".join(failed[:5]),
        )
        extra = [
            *requests,
            create(sandbox.new_record(fresh_indices(1)[0]), "batch-extra"),
        ]
        with pytest.raises(ContractError, match="max_batch_size"):
            connection.push_updates(sandbox.object_name, extra)

    def test_bad_value_fails_only_its_record(
        self, connection: Connection, sandbox: Sandbox, specs: list[FieldSpec]
    ) -> None:
        ids = seed(sandbox, 3)
        name, value = bad_value(specs)
        good = text_field(specs, sandbox).name
        requests = [
            update(ids[0], {good: "Good one"}),
            update(ids[1], {name: value}),
            update(ids[2], {good: "Good two"}),
        ]
        results = push(connection, sandbox, requests)
        bad = results[1]
        if bad.ok:
            broke(
                "a bad value gives a per-record error", f"{name}={value!r} was accepted"
            )
        check(
            bad.error is not None and bad.error.field == name,
            "a per-record error names the field at fault",
            f"{bad.error}",
        )
        check(
            bad.error is not None and not bad.error.retryable,
            "a bad value is a permanent error (retryable=False)",
            f"{bad.error}",
        )
        check(
            results[0].ok and results[2].ok,
            "one bad record never fails the others",
            f"{[_failed(r) for r in results]}",
        )

    def test_updating_a_deleted_record_reports_it_missing(
        self, connection: Connection, sandbox: Sandbox, specs: list[FieldSpec]
    ) -> None:
        ids = seed(sandbox, 2)
        optional(lambda: sandbox.delete(sandbox.object_name, ids[0]))
        good = text_field(specs, sandbox).name
        results = push(
            connection,
            sandbox,
            [update(ids[0], {good: "Gone"}), update(ids[1], {good: "Here"})],
        )
        gone = results[0]
        if gone.ok:
            broke("an update of a deleted record fails", f"{ids[0]} was updated")
        check(
            gone.error is not None and gone.error.missing,
            "an update of a deleted record says so (RecordError.missing), so the "
            "engine unlinks it instead of retrying",
            f"{gone.error}",
        )
        check(
            results[1].ok,
            "one missing record never fails the others",
            _failed(results[1]),
        )

    def test_read_only_field_is_refused(
        self, connection: Connection, sandbox: Sandbox, specs: list[FieldSpec]
    ) -> None:
        read_only = [s for s in specs if s.read_only]
        read_only.sort(
            key=lambda spec: spec.type is FieldType.ID
        )  # prefer non-id fields
        if not read_only:
            pytest.skip("the object has no read-only field")
        spec = read_only[0]
        (target,) = seed(sandbox, 1)
        (result,) = push(
            connection, sandbox, [update(target, {spec.name: read_only_value(spec)})]
        )
        if result.ok:
            broke(
                "a write to a read-only field is refused, never silently dropped",
                f"writing {spec.name} succeeded",
            )
        check(
            result.error is not None and result.error.field == spec.name,
            "a per-record error names the field at fault",
            f"{result.error}",
        )

    def test_unknown_field_is_refused(
        self, connection: Connection, sandbox: Sandbox, specs: list[FieldSpec]
    ) -> None:
        ids = seed(sandbox, 3)
        good = text_field(specs, sandbox).name
        unknown = UNKNOWN_FIELD
        requests = [
            update(ids[0], {good: "Good one"}),
            update(ids[1], {good: "With an unknown field", unknown: "x"}),
            update(ids[2], {good: "Good two"}),
        ]
        results = push(connection, sandbox, requests)
        bad = results[1]
        if bad.ok:
            broke(
                "an unknown field is a per-record error, never silently dropped",
                f"writing {unknown} succeeded",
            )
        check(
            bad.error is not None and bad.error.field == unknown,
            "a per-record error names the field at fault",
            f"{bad.error}",
        )
        check(
            results[0].ok and results[2].ok,
            "one bad record never fails the others",
            f"{[_failed(r) for r in results]}",
        )

    def test_lookup_finds_by_match_key(
        self, connection: Connection, sandbox: Sandbox, specs: list[FieldSpec]
    ) -> None:
        requires(connection, Capability.LOOKUP)
        name = sandbox.match_field or next(
            (s.name for s in specs if s.type is FieldType.EMAIL), None
        )
        if name is None:
            pytest.skip("no match field: set sandbox.match_field")
        (values,) = new_records(sandbox, 1)
        key = values.get(name)
        if not isinstance(key, str) or not key:
            pytest.skip(f"sandbox.new_record() gives no {name} value to look up")
        (record_id,) = sandbox.seed(sandbox.object_name, [values])
        found = connection.lookup_records(
            sandbox.object_name, field=name, values=[f"  {key.upper()} "], fields=[name]
        )
        check(
            record_id in [r.record_id for r in found],
            "lookup_records matches trimmed and case-insensitively",
            f"{name}={key!r} not found as '  {key.upper()} '",
        )
        none = connection.lookup_records(
            sandbox.object_name,
            field=name,
            values=["nobody@kit.invalid"],
            fields=[name],
        )
        check(not none, "lookup_records returns only matches", f"got {none}")
