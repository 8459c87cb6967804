"""Which integrations run on Celery workers, and when each one is due next.

An integration is *enrolled* when it has a row here; the dispatcher (``crmsync
scheduler``) reads due rows and enqueues one cycle each. The schedule only says when to
enqueue: whether a cycle may run is the lease's business (``leases``), so a row that is
claimed twice, or a task delivered twice, never runs two cycles of one integration.

Each tick reads only the due rows, through the ``due_at`` index: its cost follows
the integrations due, not how many there are. A due row whose integration is paused is
*parked* (due never) so that it leaves the index range. A periodic sweep
(:meth:`Schedule.sweep`) compares the schedule with the integrations: a resumed
integration is unparked (due one interval after its last dispatch, so at once when that
has passed) and a changed interval moves the due time. So creating, pausing, resuming
or changing an interval takes effect without restarting anything. Nothing here reads
links or runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    delete,
    or_,
    select,
    update,
)

from crmsync.errors import ConfigurationError
from crmsync.store._database import Database
from crmsync.store._schema import UtcDateTime, integrations, metadata

# Kept in step with migration 0002 (``DateTime(timezone=True)`` there; ``UtcDateTime``
# is how this module reads and writes it, as everywhere in the store).
worker_schedule = Table(
    "worker_schedule",
    metadata,
    Column(
        "integration_id",
        ForeignKey("integrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("due_at", UtcDateTime, nullable=False),
    # The interval the due time was computed from: a different one on the integration
    # means it changed since, and the due time is computed again.
    Column("interval_seen", Integer, nullable=False),
    Column("dispatched_at", UtcDateTime, nullable=True),
    # Set when a cycle task is enqueued, cleared when a worker picks it up: while set,
    # the dispatcher enqueues no second task (a backlog never piles up duplicates).
    Column("queued_at", UtcDateTime, nullable=True),
    Column("started_at", UtcDateTime, nullable=True),
    # The integration was paused when its row came due: due_at is PARKED until the
    # sweep finds it active again.
    Column("parked", Boolean, nullable=False, default=False),
    Column("budget_group", String(128), nullable=True),
    Column("enrolled_at", UtcDateTime, nullable=False),
    Index("ix_worker_schedule_due", "due_at"),
)


# The due time of a parked row: beyond every tick's range.
PARKED = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class DueCycle:
    """One cycle the dispatcher claimed: enqueue it, or give the claim back."""

    integration_id: int
    name: str
    interval_seconds: int
    previous_due_at: dt.datetime
    budget_group: str | None


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """An enrolled integration's place in the schedule."""

    integration_id: int
    name: str
    active: bool
    interval_seconds: int
    due_at: dt.datetime
    dispatched_at: dt.datetime | None
    queued_at: dt.datetime | None
    started_at: dt.datetime | None
    budget_group: str | None


def _next_due(row: Any, interval: int) -> dt.datetime:
    """One interval after the row's last dispatch (or its enrolment)."""
    since: dt.datetime = row.dispatched_at or row.enrolled_at
    return since + dt.timedelta(seconds=interval)


def _entry(row: object) -> ScheduleEntry:
    r = row._mapping  # type: ignore[attr-defined]
    return ScheduleEntry(
        integration_id=r["integration_id"],
        name=r["name"],
        active=bool(r["active"]),
        interval_seconds=r["interval_seconds"],
        due_at=r["due_at"],
        dispatched_at=r["dispatched_at"],
        queued_at=r["queued_at"],
        started_at=r["started_at"],
        budget_group=r["budget_group"],
    )


class Schedule:
    """The worker schedule: enrolment, due cycles, queued and started marks."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _schedule_select(self) -> object:
        s, i = worker_schedule, integrations
        return select(
            s.c.integration_id,
            i.c.name,
            i.c.active,
            i.c.interval_seconds,
            s.c.due_at,
            s.c.dispatched_at,
            s.c.queued_at,
            s.c.started_at,
            s.c.budget_group,
        ).join(i, i.c.id == s.c.integration_id)

    def enroll(
        self,
        integration_id: int,
        *,
        now: dt.datetime,
        budget_group: str | None = None,
    ) -> None:
        """Run the integration's cycles on the workers from now on (due at once).

        Enrolling again keeps the due time and replaces the budget group.
        """
        with self.database.transaction() as tx:
            interval = tx.execute(
                select(integrations.c.interval_seconds).where(
                    integrations.c.id == integration_id
                )
            ).scalar()
            if interval is None:
                raise ConfigurationError(f"no integration with id {integration_id}")
            statement = self.database.insert(worker_schedule).values(
                integration_id=integration_id,
                due_at=now,
                interval_seen=int(interval),
                budget_group=budget_group,
                enrolled_at=now,
            )
            tx.execute(
                statement.on_conflict_do_update(
                    index_elements=[worker_schedule.c.integration_id],
                    set_={"budget_group": budget_group},
                )
            )

    def withdraw(self, integration_id: int) -> bool:
        """Run the integration's cycles in-process again; whether it was enrolled."""
        with self.database.transaction() as tx:
            result = tx.execute(
                delete(worker_schedule).where(
                    worker_schedule.c.integration_id == integration_id
                )
            )
        return bool(result.rowcount)

    def schedule_entry(self, integration_id: int) -> ScheduleEntry | None:
        """The integration's schedule row, or ``None`` when it runs in-process."""
        with self.database.engine.connect() as connection:
            row = connection.execute(
                self._schedule_select().where(  # type: ignore[attr-defined]
                    worker_schedule.c.integration_id == integration_id
                )
            ).first()
        return None if row is None else _entry(row)

    def list_schedule(self, limit: int = 1000) -> list[ScheduleEntry]:
        """Enrolled integrations, soonest due first."""
        with self.database.engine.connect() as connection:
            rows = connection.execute(
                self._schedule_select()  # type: ignore[attr-defined]
                .order_by(worker_schedule.c.due_at, worker_schedule.c.integration_id)
                .limit(limit)
            )
            return [_entry(row) for row in rows]

    def claim_due(
        self,
        now: dt.datetime,
        *,
        limit: int,
        requeue_before: dt.datetime,
    ) -> list[DueCycle]:
        """Claim up to ``limit`` enrolled integrations whose due time has come.

        A claimed row is due again one interval from ``now`` and marked queued. A row
        still queued (its task not yet picked up) is skipped unless it was queued
        before ``requeue_before``: its message was lost. A due row of a paused
        integration is parked; one whose interval changed is due again one new
        interval after its last dispatch. On PostgreSQL the rows are locked with
        ``SKIP LOCKED``, so two dispatchers never claim the same row.
        """
        s, i = worker_schedule, integrations
        query = (
            select(
                s.c.integration_id,
                i.c.name,
                i.c.active,
                i.c.interval_seconds,
                s.c.interval_seen,
                s.c.due_at,
                s.c.dispatched_at,
                s.c.enrolled_at,
                s.c.budget_group,
            )
            .join(i, i.c.id == s.c.integration_id)
            .where(
                s.c.due_at <= now,
                or_(s.c.queued_at.is_(None), s.c.queued_at < requeue_before),
            )
            .order_by(s.c.due_at)
            .limit(limit)
        )
        if self.database.dialect == "postgresql":
            query = query.with_for_update(of=s, skip_locked=True)
        claimed: list[DueCycle] = []
        moved: list[dict[str, object]] = []
        parked: list[int] = []
        with self.database.transaction() as tx:
            for row in tx.execute(query):
                interval = int(row.interval_seconds)
                if not row.active:
                    parked.append(row.integration_id)
                    continue
                due_at = row.due_at
                if row.interval_seen != interval:
                    due_at = _next_due(row, interval)
                if due_at > now:
                    moved.append(
                        {"key": row.integration_id, "due": due_at, "seen": interval}
                    )
                    continue
                claimed.append(
                    DueCycle(
                        integration_id=row.integration_id,
                        name=row.name,
                        interval_seconds=interval,
                        previous_due_at=row.due_at,
                        budget_group=row.budget_group,
                    )
                )
            self._move(tx, moved)
            for start in range(0, len(parked), 500):
                tx.execute(
                    update(s)
                    .where(s.c.integration_id.in_(parked[start : start + 500]))
                    .values(due_at=PARKED, parked=True)
                )
            # One UPDATE per distinct interval (a few), not one per claimed row.
            by_interval: dict[int, list[int]] = {}
            for cycle in claimed:
                by_interval.setdefault(cycle.interval_seconds, []).append(
                    cycle.integration_id
                )
            for interval, keys in by_interval.items():
                for start in range(0, len(keys), 500):
                    tx.execute(
                        update(s)
                        .where(s.c.integration_id.in_(keys[start : start + 500]))
                        .values(
                            due_at=now + dt.timedelta(seconds=interval),
                            interval_seen=interval,
                            dispatched_at=now,
                            queued_at=now,
                        )
                    )
        return claimed

    def sweep(self) -> int:
        """Bring the schedule in line with the integrations; how many rows moved.

        Unparks the rows of resumed integrations and moves the due time of those whose
        interval changed: due one (new) interval after the last dispatch. This one
        query reads every enrolled row (never links or runs), so the dispatcher runs
        it every ``sweep_seconds``, not every tick.
        """
        s, i = worker_schedule, integrations
        query = (
            select(
                s.c.integration_id,
                i.c.active,
                i.c.interval_seconds,
                s.c.interval_seen,
                s.c.parked,
                s.c.due_at,
                s.c.dispatched_at,
                s.c.enrolled_at,
            )
            .join(i, i.c.id == s.c.integration_id)
            .where(
                or_(
                    s.c.interval_seen != i.c.interval_seconds,
                    and_(s.c.parked.is_(True), i.c.active.is_(True)),
                )
            )
        )
        moved: list[dict[str, object]] = []
        with self.database.transaction() as tx:
            for row in tx.execute(query):
                interval = int(row.interval_seconds)
                if row.parked and not row.active:
                    tx.execute(
                        update(s)
                        .where(s.c.integration_id == row.integration_id)
                        .values(interval_seen=interval)
                    )
                    continue
                moved.append(
                    {
                        "key": row.integration_id,
                        "due": _next_due(row, interval),
                        "seen": interval,
                    }
                )
            self._move(tx, moved)
        return len(moved)

    @staticmethod
    def _move(tx: Any, moved: list[dict[str, object]]) -> None:
        if not moved:
            return
        s = worker_schedule
        tx.execute(
            update(s)
            .where(s.c.integration_id == bindparam("key"))
            .values(
                due_at=bindparam("due"), interval_seen=bindparam("seen"), parked=False
            ),
            moved,
        )

    def give_back(self, cycles: Sequence[DueCycle]) -> None:
        """Undo claims whose task could not be enqueued: due as before, not queued."""
        if not cycles:
            return
        s = worker_schedule
        with self.database.transaction() as tx:
            tx.execute(
                update(s)
                .where(s.c.integration_id == bindparam("key"))
                .values(due_at=bindparam("due"), queued_at=None),
                [{"key": c.integration_id, "due": c.previous_due_at} for c in cycles],
            )

    def mark_queued(self, integration_id: int, now: dt.datetime) -> None:
        """A cycle was enqueued outside the dispatcher ("run now"): the next one is
        due an interval from now, and none is enqueued while this one waits."""
        s, i = worker_schedule, integrations
        with self.database.transaction() as tx:
            current = tx.execute(
                select(i.c.interval_seconds).where(i.c.id == integration_id)
            ).scalar()
            if current is None:
                return
            tx.execute(
                update(s)
                .where(s.c.integration_id == integration_id)
                .values(
                    due_at=now + dt.timedelta(seconds=int(current)),
                    interval_seen=int(current),
                    dispatched_at=now,
                    queued_at=now,
                    parked=False,
                )
            )

    def mark_started(self, integration_id: int, now: dt.datetime) -> None:
        """A worker picked the integration's task up: it is no longer queued."""
        s = worker_schedule
        with self.database.transaction() as tx:
            tx.execute(
                update(s)
                .where(s.c.integration_id == integration_id)
                .values(queued_at=None, started_at=now)
            )

    def count_due(self, now: dt.datetime) -> int:
        """How many active enrolled integrations are due now (for ``workers list``)."""
        from sqlalchemy import func

        s, i = worker_schedule, integrations
        with self.database.engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count())
                    .select_from(s.join(i, i.c.id == s.c.integration_id))
                    .where(and_(i.c.active.is_(True), s.c.due_at <= now))
                ).scalar()
                or 0
            )


__all__ = [
    "PARKED",
    "DueCycle",
    "Schedule",
    "ScheduleEntry",
    "worker_schedule",
]
