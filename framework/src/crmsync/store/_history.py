"""What happened: runs with their counts, per-record errors, and logged operations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, desc, or_, select, update

from crmsync.store._database import Database
from crmsync.store._schema import events, record_errors, runs


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str
    dry_run: bool
    counts: dict[str, Any]
    message: str | None


@dataclass(frozen=True, slots=True)
class RecordErrorRow:
    side: str
    object_name: str
    record_id: str
    code: str
    message: str
    field: str | None
    retryable: bool
    attempts: int
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


@dataclass(frozen=True, slots=True)
class EventRow:
    at: dt.datetime
    kind: str
    detail: dict[str, Any]


def write_event(
    tx: Connection, integration_id: int | None, kind: str, detail: dict[str, Any]
) -> None:
    """Log an operation in ``tx`` (with the change it records)."""
    tx.execute(
        events.insert().values(
            integration_id=integration_id,
            kind=kind,
            detail=detail,
            at=dt.datetime.now(dt.UTC),
        )
    )


class History:
    """Run history, per-record errors and the event log."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def start_run(self, integration_id: int, *, dry_run: bool) -> int:
        with self.database.transaction() as tx:
            return self.database.new_id(
                tx.execute(
                    runs.insert().values(
                        integration_id=integration_id,
                        started_at=dt.datetime.now(dt.UTC),
                        status="running",
                        dry_run=dry_run,
                        counts={},
                    )
                )
            )

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        counts: dict[str, Any],
        message: str | None = None,
    ) -> None:
        with self.database.transaction() as tx:
            tx.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    finished_at=dt.datetime.now(dt.UTC),
                    status=status,
                    counts=counts,
                    message=message,
                )
            )

    def list_runs(self, integration_id: int, limit: int = 20) -> list[RunRecord]:
        with self.database.engine.connect() as connection:
            result = connection.execute(
                select(runs)
                .where(runs.c.integration_id == integration_id)
                .order_by(desc(runs.c.started_at), desc(runs.c.id))
                .limit(limit)
            )
            return [
                RunRecord(
                    r.id,
                    r.started_at,
                    r.finished_at,
                    r.status,
                    r.dry_run,
                    r.counts or {},
                    r.message,
                )
                for r in result
            ]

    def get_run(self, integration_id: int, run_id: int) -> RunRecord | None:
        """One run of the integration by its id (its primary key), or ``None``."""
        with self.database.engine.connect() as connection:
            r = connection.execute(
                select(runs).where(
                    runs.c.id == run_id, runs.c.integration_id == integration_id
                )
            ).first()
        if r is None:
            return None
        return RunRecord(
            r.id,
            r.started_at,
            r.finished_at,
            r.status,
            r.dry_run,
            r.counts or {},
            r.message,
        )

    def record_failures(
        self,
        tx: Connection,
        integration_id: int,
        run_id: int | None,
        failures: Sequence[dict[str, Any]],
    ) -> None:
        """Upsert one error row per record: the latest reason, how often it failed."""
        if not failures:
            return
        now = dt.datetime.now(dt.UTC)
        statement = self.database.insert(record_errors)
        excluded = statement.excluded
        tx.execute(
            statement.on_conflict_do_update(
                index_elements=[
                    record_errors.c.integration_id,
                    record_errors.c.side,
                    record_errors.c.object_name,
                    record_errors.c.record_id,
                ],
                set_={
                    "run_id": excluded.run_id,
                    "code": excluded.code,
                    "message": excluded.message,
                    "field": excluded.field,
                    "retryable": excluded.retryable,
                    "last_seen_at": excluded.last_seen_at,
                    "attempts": record_errors.c.attempts + 1,
                    "resolved_at": None,
                },
            ),
            [
                {
                    "integration_id": integration_id,
                    "run_id": run_id,
                    "side": f["side"],
                    "object_name": f["object_name"],
                    "record_id": f["record_id"],
                    "code": f["code"],
                    "message": f["message"][:2000],
                    "field": f.get("field"),
                    "retryable": f.get("retryable", False),
                    "attempts": 1,
                    "first_seen_at": now,
                    "last_seen_at": now,
                    "resolved_at": None,
                }
                for f in failures
            ],
        )

    def resolve_failures(
        self, tx: Connection, integration_id: int, keys: Sequence[tuple[str, str, str]]
    ) -> None:
        """Mark errors of (side, object, record) resolved after a success."""
        from sqlalchemy import tuple_

        if not keys:
            return
        for start in range(0, len(keys), 300):
            chunk = list(keys[start : start + 300])
            tx.execute(
                update(record_errors)
                .where(
                    record_errors.c.integration_id == integration_id,
                    record_errors.c.resolved_at.is_(None),
                    tuple_(
                        record_errors.c.side,
                        record_errors.c.object_name,
                        record_errors.c.record_id,
                    ).in_(chunk),
                )
                .values(resolved_at=dt.datetime.now(dt.UTC))
            )

    def count_open_errors(self, integration_id: int) -> int:
        """How many per-record errors of the integration are open (``open_errors``
        lists only up to a limit)."""
        from sqlalchemy import func

        with self.database.engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count())
                    .select_from(record_errors)
                    .where(
                        record_errors.c.integration_id == integration_id,
                        record_errors.c.resolved_at.is_(None),
                    )
                ).scalar()
                or 0
            )

    def open_errors(
        self,
        integration_id: int,
        limit: int = 100,
        *,
        records: Sequence[tuple[str, str, str]] | None = None,
    ) -> list[RecordErrorRow]:
        """The newest open errors; only those of ``records`` (side, object, id) when
        given (read through the errors' unique index)."""
        only = (
            []
            if records is None
            else [
                or_(
                    *(
                        (record_errors.c.side == side)
                        & (record_errors.c.object_name == object_name)
                        & (record_errors.c.record_id == record_id)
                        for side, object_name, record_id in records
                    )
                )
            ]
        )
        with self.database.engine.connect() as connection:
            result = connection.execute(
                select(record_errors)
                .where(
                    record_errors.c.integration_id == integration_id,
                    record_errors.c.resolved_at.is_(None),
                    *only,
                )
                .order_by(desc(record_errors.c.last_seen_at))
                .limit(limit)
            )
            return [
                RecordErrorRow(
                    r.side,
                    r.object_name,
                    r.record_id,
                    r.code,
                    r.message,
                    r.field,
                    r.retryable,
                    r.attempts,
                    r.first_seen_at,
                    r.last_seen_at,
                )
                for r in result
            ]

    def log_event(self, integration_id: int, kind: str, detail: dict[str, Any]) -> None:
        """Log an operation in a transaction of its own."""
        with self.database.transaction() as tx:
            write_event(tx, integration_id, kind, detail)

    def list_events(self, integration_id: int, limit: int = 50) -> list[EventRow]:
        with self.database.engine.connect() as connection:
            result = connection.execute(
                select(events)
                .where(events.c.integration_id == integration_id)
                .order_by(desc(events.c.at), desc(events.c.id))
                .limit(limit)
            )
            return [EventRow(r.at, r.kind, r.detail or {}) for r in result]


__all__ = ["EventRow", "History", "RecordErrorRow", "RunRecord", "write_event"]
