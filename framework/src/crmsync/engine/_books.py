"""The cycle's bookkeeping: links stored, inbox rows settled, failed or parked, record
errors recorded.

Every part of a cycle that finishes with records (the linker, the matcher, the settler,
the writer) writes its outcome through a :class:`Bookkeeper`, inside the transaction it
already holds: one place that knows how a settled row leaves the inbox and how a
failure is kept.
"""

from __future__ import annotations

import structlog
from sqlalchemy import Connection as DbConnection

from crmsync.engine._context import CycleContext
from crmsync.engine._units import Failure, Unit
from crmsync.engine.report import RecordOutcome
from crmsync.store import InboxRow, LinkRow

log = structlog.get_logger("crmsync.engine")


class Bookkeeper:
    """Records what a cycle settled or failed, in the caller's transaction."""

    def __init__(self, ctx: CycleContext) -> None:
        self.ctx = ctx

    def store_links(
        self, tx: DbConnection, changes: list[LinkRow], deletes: list[int]
    ) -> None:
        """Store changed links and remove deleted ones (every link write of a cycle)."""
        ctx = self.ctx
        ctx.store.links.upsert(tx, ctx.iid, changes)
        ctx.store.links.delete(tx, deletes)
        ctx.seen_links.written(link.id for link in changes)
        ctx.seen_links.written(deletes)

    def fail_rows(self, tx: DbConnection, unit: Unit, *, retryable: bool) -> None:
        """Keep ``unit``'s rows in the inbox with its failures, for a retry (or parked,
        past ``max_attempts`` or when no retry can help)."""
        ctx = self.ctx
        ids = [row.id for row in unit.rows if row.id > 0]
        ctx.skip_rows.update(ids)
        if not ids:
            return
        message = "; ".join(f"{f.code}: {f.message}" for f in unit.failures)[:2000]
        ctx.store.inbox.fail(
            tx, ids, message, park=not retryable, max_attempts=ctx.max_attempts
        )

    def park(self, tx: DbConnection, row: InboxRow, why: str) -> None:
        """Set ``row`` aside until an operator acts (no retry would decide it)."""
        self.ctx.skip_rows.add(row.id)
        self.ctx.store.inbox.fail(tx, [row.id], why, park=True, max_attempts=1)

    def record_failures(self, tx: DbConnection, failures: list[Failure]) -> None:
        """Record per-record errors in the run's history (and the report's plan)."""
        if not failures:
            return
        ctx = self.ctx
        report = ctx.report
        if report.record_plan:
            report.outcomes.extend(
                RecordOutcome(
                    "error", f.object_name, f.record_id, detail=f"{f.side}:{f.code}"
                )
                for f in failures
            )
        ctx.open_errors = True
        ctx.store.history.record_failures(
            tx,
            ctx.iid,
            ctx.run_id,
            [
                {
                    "side": f.side,
                    "object_name": f.object_name,
                    "record_id": f.record_id,
                    "code": f.code,
                    "message": f.message,
                    "field": f.field,
                    "retryable": f.retryable,
                }
                for f in failures
            ],
        )
        for failure in failures:
            log.warning(
                "record_failed",
                record=failure.record_id,
                code=failure.code,
                field=failure.field,
                message=failure.message,
            )

    def settle_rows(self, tx: DbConnection, rows: list[InboxRow]) -> None:
        """Done with these inbox rows: delete them, or mark them settled for now.

        A settled row stays until the cycle ends only so that later rows can still find
        its record by match key (and see it linked, not create it twice). Where matching
        asks the vendor anyway (the feed was read from a cursor and the connector looks
        records up), the row has no such use and is deleted at once: one write less per
        changed record.
        """
        drop = self.ctx.settle_by_deleting
        deleted = [r.id for r in rows if r.id > 0 and (r.side, r.object_name) in drop]
        settled = [
            r.id for r in rows if r.id > 0 and (r.side, r.object_name) not in drop
        ]
        inbox = self.ctx.store.inbox
        inbox.delete(tx, deleted)
        inbox.settle(tx, settled)

    def release(self, unit: Unit) -> None:
        """The unit's records are settled (or failed): others may claim them again."""
        in_flight = self.ctx.in_flight
        for row in unit.rows:
            in_flight.discard((row.side, row.object_name, row.record_id))
        link = unit.link
        in_flight.discard(("platform", link.platform_object, link.platform_id))
        in_flight.discard(("crm", link.crm_object, link.crm_id))
