"""``push_updates`` over the table: one transaction per batch, answered record by
record.

A batch is a handful of statements, not one per record: the updates that set the same
columns go in one ``executemany``, the creates in one multi-row ``INSERT``. Each group
runs inside a savepoint; when one of its rows breaks a constraint, the savepoint is
rolled back and the group is repeated row by row, each in a savepoint of its own, so
the bad record fails alone and the rest of the batch commits.

The modification time of every written row is set by the database's clock (not
crmsync's), then read back in the same transaction: the result carries the exact
value the next read of the feed returns, so the engine recognises its own write.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from crmsync.connectors.sql._errors import record_error, translate
from crmsync.connectors.sql._table import TableModel
from crmsync.contract import RecordError, WriteRequest, WriteResult
from crmsync.errors import OutcomeUnknown

__all__ = ["live_clause", "push_batch"]

_CHUNK = 1000  # ids per IN (...) list


def now_expression(model: TableModel) -> Any:
    """The database's clock, at the precision its timestamps keep."""
    if model.dialect == "postgresql":
        return sa.func.clock_timestamp()
    return sa.literal_column("CURRENT_TIMESTAMP(6)")


def live_clause(model: TableModel, table: sa.Table) -> Any:
    """Rows not soft-deleted (every row, without a soft-delete column)."""
    if model.deleted_name is None:
        return sa.true()
    column = table.c[model.deleted_name]
    if isinstance(column.type, sa.DateTime):
        return column.is_(None)
    if isinstance(column.type, sa.Boolean):
        return sa.or_(column.is_(None), column == sa.false())
    return sa.or_(column.is_(None), column == 0)


def _refusal(model: TableModel, request: WriteRequest) -> RecordError | None:
    problem = model.check(request.values)
    if problem is not None:
        return RecordError(
            code=problem.code, message=problem.message, field=problem.field
        )
    if request.op == "update":
        if request.record_id is None:
            return RecordError(
                code="MISSING_RECORD_ID", message="an update needs a record_id"
            )
        try:
            model.decode_id(request.record_id)
        except ValueError:
            return RecordError(
                code="NOT_FOUND",
                message=f"{request.record_id!r} is not an id of this table",
                missing=True,
            )
    return None


def _stored(model: TableModel, values: dict[str, Any]) -> dict[str, Any]:
    return {name: model.to_stored(name, value) for name, value in values.items()}


class _Batch:
    """One call's work, in one open transaction."""

    def __init__(self, connection: sa.Connection, model: TableModel) -> None:
        self.connection = connection
        self.model = model
        self.table = model.write
        self.key = model.write.c[model.id_name]
        self.now = now_expression(model)
        self.outcomes: dict[int, Any] = {}  # position -> stored id, or RecordError

    # -- updates -----------------------------------------------------------------------
    def update(self, items: list[tuple[int, Any, dict[str, Any]]]) -> None:
        existing = self._existing([key for _, key, _ in items])
        groups: dict[tuple[str, ...], list[tuple[int, Any, dict[str, Any]]]] = (
            defaultdict(list)
        )
        for position, key, values in items:
            if self.model.encode_id(key) not in existing:
                self.outcomes[position] = RecordError(
                    code="NOT_FOUND",
                    message=f"no live row {self.model.encode_id(key)}",
                    missing=True,
                )
            else:
                groups[tuple(sorted(values))].append((position, key, values))
        for columns, group in groups.items():
            names = {column: f"v{index}" for index, column in enumerate(columns)}
            statement = (
                sa.update(self.table)
                .where(self.key == sa.bindparam("crmsync_id"))
                .values(
                    {
                        **{c: sa.bindparam(names[c]) for c in columns},
                        self.model.modified_name or "": self.now,
                    }
                )
            )
            rows = [
                {
                    "crmsync_id": key,
                    **{names[c]: v for c, v in _stored(self.model, values).items()},
                }
                for _, key, values in group
            ]
            self._run(statement, rows, [(p, k) for p, k, _ in group])

    def _existing(self, keys: list[Any]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            statement = (
                sa.select(self.key)
                .where(self.key.in_(chunk), live_clause(self.model, self.table))
                .with_for_update()
            )
            found |= {
                self.model.encode_id(value)
                for value in self.connection.execute(statement).scalars()
            }
        return found

    # -- creates -----------------------------------------------------------------------
    def create(self, items: list[tuple[int, dict[str, Any]]]) -> None:
        groups: dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]] = defaultdict(
            list
        )
        for position, values in items:
            groups[tuple(sorted(values))].append((position, values))
        returning = bool(
            self.connection.dialect.insert_executemany_returning_sort_by_parameter_order
        )
        for group in groups.values():
            rows = []
            keys: list[Any] = []
            for _, values in group:
                row = _stored(self.model, values)
                key = self.model.new_id()
                if key is not None:
                    row[self.model.id_name] = key
                keys.append(key)
                rows.append(row)
            statement = sa.insert(self.table).values(
                {self.model.modified_name or "": self.now}
            )
            positions = [p for p, _ in group]
            if not self.model.id_generated:
                self._run(statement, rows, list(zip(positions, keys, strict=True)))
            elif returning and len(rows) > 1:
                self._insert_returning(statement, rows, positions)
            else:
                for position, row in zip(positions, rows, strict=True):
                    self._insert_one(statement, row, position)

    def _insert_returning(
        self, statement: sa.Insert, rows: list[dict[str, Any]], positions: list[int]
    ) -> None:
        try:
            with self.connection.begin_nested():
                made = self.connection.execute(
                    statement.returning(self.key, sort_by_parameter_order=True), rows
                ).scalars()
                for position, key in zip(positions, list(made), strict=True):
                    self.outcomes[position] = key
            return
        except (exc.IntegrityError, exc.DataError):
            pass  # find the bad row(s): one at a time
        for position, row in zip(positions, rows, strict=True):
            self._insert_one(statement, row, position)

    def _insert_one(
        self, statement: sa.Insert, row: dict[str, Any], position: int
    ) -> None:
        try:
            with self.connection.begin_nested():
                result = self.connection.execute(statement, row)
                key = result.inserted_primary_key
                self.outcomes[position] = key[0] if key else None
        except (exc.IntegrityError, exc.DataError) as error:
            self.outcomes[position] = record_error(error)

    # -- shared ------------------------------------------------------------------------
    def _run(
        self, statement: Any, rows: list[dict[str, Any]], targets: list[tuple[int, Any]]
    ) -> None:
        """``statement`` for all ``rows`` in a savepoint; on a constraint error, row
        by row so only the bad ones fail."""
        if len(rows) > 1:
            try:
                with self.connection.begin_nested():
                    self.connection.execute(statement, rows)
                for position, key in targets:
                    self.outcomes[position] = key
                return
            except (exc.IntegrityError, exc.DataError):
                pass
        for row, (position, key) in zip(rows, targets, strict=True):
            try:
                with self.connection.begin_nested():
                    self.connection.execute(statement, row)
                self.outcomes[position] = key
            except (exc.IntegrityError, exc.DataError) as error:
                self.outcomes[position] = record_error(error)

    def moments(self) -> dict[str, dt.datetime]:
        """The modification time each written row now has, by record id."""
        keys = [v for v in self.outcomes.values() if not isinstance(v, RecordError)]
        modified = self.table.c[self.model.modified_name or ""]
        found: dict[str, dt.datetime] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            for key, moment in self.connection.execute(
                sa.select(self.key, modified).where(self.key.in_(chunk))
            ):
                if moment is not None:
                    found[self.model.encode_id(key)] = self.model.aware(moment)
        return found


def push_batch(
    engine: sa.Engine,
    model: TableModel,
    object_name: str,
    requests: Sequence[WriteRequest],
) -> list[WriteResult]:
    """Write ``requests`` in one transaction; one result per request, in order."""
    refusals = {
        position: refusal
        for position, request in enumerate(requests)
        if (refusal := _refusal(model, request)) is not None
    }
    updates = [
        (p, model.decode_id(r.record_id or ""), dict(r.values))
        for p, r in enumerate(requests)
        if p not in refusals and r.op == "update"
    ]
    creates = [
        (p, dict(r.values))
        for p, r in enumerate(requests)
        if p not in refusals and r.op == "create"
    ]
    moments: dict[str, dt.datetime] = {}
    outcomes: dict[int, Any] = dict(refusals)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                batch = _Batch(connection, model)
                if updates:
                    batch.update(updates)
                if creates:
                    batch.create(creates)
                moments = batch.moments()
            except BaseException:
                transaction.rollback()
                raise
            try:
                transaction.commit()
            except exc.DBAPIError as error:
                if creates:
                    # The COMMIT was sent; whether it took is unknown. Repeating the
                    # creates could duplicate them: the next cycle looks them up.
                    raise OutcomeUnknown(
                        f"the platform database did not answer the commit: "
                        f"{translate(error)}",
                        connector="sql",
                        object_name=object_name,
                    ) from None
                raise
            outcomes.update(batch.outcomes)
    except exc.DBAPIError as error:
        raise translate(error, object_name=object_name) from None
    results = []
    for position, request in enumerate(requests):
        outcome = outcomes.get(position)
        if isinstance(outcome, RecordError):
            results.append(
                WriteResult(
                    ref=request.ref,
                    ok=False,
                    record_id=request.record_id,
                    error=outcome,
                )
            )
            continue
        record_id = model.encode_id(outcome)
        results.append(
            WriteResult(
                ref=request.ref,
                ok=True,
                record_id=record_id,
                modified_at=moments.get(record_id),
            )
        )
    return results
