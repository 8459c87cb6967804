"""The per-field decision log: which rule wrote which value to which side's record in
which run, kept for a retention and purged by its time column.

Rows are written in bulk, one driver ``executemany`` per applied batch, inside the
transaction that records the batch's results; reads are by record (the story of one
linked pair) through ``ix_field_decisions_record``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, desc, or_, select

from crmsync.store._database import Database
from crmsync.store._schema import field_decisions, loads

__all__ = ["DecisionLog", "DecisionRow", "FieldWrite"]

# (side written, object, record id, field, value as JSON text, rule)
FieldWrite = tuple[str, str, str, str, str, str]

_PURGE_CHUNK = 5_000  # rows per purge statement: short transactions, bounded work


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One logged write of one field."""

    run_id: int | None
    decided_at: dt.datetime
    side: str
    object_name: str
    record_id: str
    field: str
    value: Any
    rule: str


class DecisionLog:
    """The decision log: bulk writes, bounded purges, reads by record."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def record(
        self,
        tx: Connection,
        integration_id: int,
        run_id: int | None,
        decided_at: dt.datetime,
        writes: Sequence[FieldWrite],
    ) -> None:
        """Log ``writes`` (fields the vendor accepted) in one statement."""
        if not writes:
            return
        mark = self.database.mark
        at: Any = decided_at
        if (
            self.database.dialect == "sqlite"
        ):  # the text SQLAlchemy's SQLite DATETIME keeps
            at = (
                decided_at.astimezone(dt.UTC)
                .replace(tzinfo=None)
                .isoformat(sep=" ", timespec="microseconds")
            )
        tx.exec_driver_sql(
            "INSERT INTO field_decisions (integration_id, run_id, decided_at, side, "
            "object_name, record_id, field, value, rule) "
            f"VALUES ({', '.join([mark] * 9)})",
            [(integration_id, run_id, at, *write) for write in writes],
        )

    def purge(self, tx: Connection, before: dt.datetime, *, limit: int) -> int:
        """Drop at most ``limit`` log rows decided before ``before``, oldest first,
        through the time index: a purge's work is bounded whatever the log's size."""
        purged = 0
        while purged < limit:
            doomed = (
                select(field_decisions.c.id)
                .where(field_decisions.c.decided_at < before)
                .order_by(field_decisions.c.decided_at)
                .limit(min(_PURGE_CHUNK, limit - purged))
            )
            ids = [row[0] for row in tx.execute(doomed)]
            if not ids:
                break
            tx.execute(field_decisions.delete().where(field_decisions.c.id.in_(ids)))
            purged += len(ids)
        return purged

    def for_records(
        self,
        integration_id: int,
        records: Sequence[tuple[str, str, str]],
        *,
        limit: int = 200,
    ) -> list[DecisionRow]:
        """The newest ``limit`` logged writes to (side, object, record id), newest
        first."""
        if not records:
            return []
        statement = (
            select(field_decisions)
            .where(
                field_decisions.c.integration_id == integration_id,
                or_(
                    *(
                        (field_decisions.c.side == side)
                        & (field_decisions.c.object_name == object_name)
                        & (field_decisions.c.record_id == record_id)
                        for side, object_name, record_id in records
                    )
                ),
            )
            .order_by(desc(field_decisions.c.decided_at), desc(field_decisions.c.id))
            .limit(limit)
        )
        with self.database.engine.connect() as connection:
            return [
                DecisionRow(
                    run_id=row.run_id,
                    decided_at=row.decided_at,
                    side=row.side,
                    object_name=row.object_name,
                    record_id=row.record_id,
                    field=row.field,
                    value=None if row.value is None else loads(row.value),
                    rule=row.rule,
                )
                for row in connection.execute(statement)
            ]
