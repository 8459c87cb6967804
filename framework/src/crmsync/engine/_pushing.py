"""Queueing writes into full batches, pushing them, applying each record's result.

The :class:`Writer` hands full batches to the cycle's pusher (:mod:`._writes`) and
records what each answer came to: links and baselines, settled or failed rows, pending
creates and write intents dropped, the decision log's rows, in one transaction per
collection.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import structlog
from sqlalchemy import Connection as DbConnection

from crmsync.contract.models import WriteRequest
from crmsync.engine._books import Bookkeeper
from crmsync.engine._context import CycleContext, id_of, object_of, set_id
from crmsync.engine._intents import Intents
from crmsync.engine._units import (
    Failure,
    Unit,
    revert_failed_fields,
)
from crmsync.engine._writes import Answered, QueuedWrite, WriteQueue
from crmsync.errors import OutcomeUnknown, StopRequested
from crmsync.models import PLATFORM, Side
from crmsync.store import FieldWrite, InboxRow, LinkRow
from crmsync.store._schema import dumps

log = structlog.get_logger("crmsync.engine")

_STOP_POLL_SECONDS = 0.2  # how often a wait for the vendor asks whether to stop
_PURGE_FLOOR = 10_000  # decision-log rows a cycle may purge even if it logged none


class Writer:
    """Writes: queue, push, apply."""

    def __init__(self, ctx: CycleContext) -> None:
        self.ctx = ctx
        self.books = Bookkeeper(ctx)
        self.intents = Intents(ctx)

    def note_unsent(self, items: list[QueuedWrite]) -> None:
        """Creates the pusher never sent (cancelled) or the vendor refused whole."""
        self.ctx.unsent_creates.update(
            item.request.ref for item in items if item.request.op == "create"
        )

    def forget_unsent_creates(self) -> None:
        """Drop the pending records of creates this cycle never sent (it stopped, ran
        out of quota or lost its lease first): they are not in doubt, so the next
        cycle creates them without waiting."""
        ctx = self.ctx
        refs, ctx.unsent_creates = ctx.unsent_creates, set()
        if not refs:
            return
        try:
            with ctx.tx() as tx:
                ctx.store.pending.remove(tx, sorted(refs))
        except Exception as error:  # kept: they only make a later cycle wait
            log.warning("unsent_creates_kept", count=len(refs), error=str(error))

    def purge_decisions(self, tx: DbConnection) -> None:
        """Drop decision-log rows past the retention, oldest first: at most twice
        what this cycle logged (and a floor), so the purge keeps ahead of the log
        while a cycle's cost stays bound to its own writes."""
        ctx = self.ctx
        retention = dt.timedelta(days=ctx.settings.decision_log_days)
        limit = max(_PURGE_FLOOR, 2 * ctx.logged_decisions)
        ctx.store.decisions.purge(tx, ctx.clock() - retention, limit=limit)

    def pending_create(self, unit: Unit) -> dict[str, Any]:
        """The pending record of ``unit``'s create, committed before it is pushed."""
        target = unit.creates
        assert target is not None
        return {
            "ref": unit.ref,
            "target_side": target.value,
            "target_object": object_of(unit.link, target),
            "source_object": object_of(unit.link, target.other),
            "source_id": id_of(unit.link, target.other),
            "match_key": next((r.match_key for r in unit.rows), None),
        }

    def enqueue(self, unit: Unit, queue: WriteQueue) -> None:
        """Claim ``unit``'s records and queue its writes (flushed when a batch is
        full)."""
        in_flight = self.ctx.in_flight
        for side in unit.writes:
            in_flight.add(unit.record_key(side))
        for row in unit.rows:
            in_flight.add((row.side, row.object_name, row.record_id))
        # A create's pending record was committed with its chunk (settle_chunk), before
        # any of the chunk's writes can be pushed.
        for side, values in unit.writes.items():
            op: Literal["create", "update"] = (
                "create" if unit.creates is side else "update"
            )
            if op == "create" and unit.ref:
                ref, record_id = unit.ref, None
            else:
                record_id = id_of(unit.link, side) or None
                ref = f"{self.ctx.iid}:{side.value}:{record_id or ''}"
                if op == "create":
                    record_id = None
            # (Validating is cheaper than pydantic's model_construct, which runs in
            # Python: measured.)
            request = WriteRequest(ref=ref, op=op, record_id=record_id, values=values)
            unit.pending += 1
            queue.add(
                side, object_of(unit.link, side), QueuedWrite(request, unit, side)
            )

    def flush_threshold(self, side: Side) -> int:
        """How many writes fill a side's flush: a batch for each concurrent call."""
        description = self.ctx.connections[side].description
        return description.max_batch_size * description.max_concurrency

    def flush(self, side: Side, object_name: str, queued: list[QueuedWrite]) -> None:
        """Send full batches on their way; apply whatever has already answered."""
        ctx = self.ctx
        pusher = ctx.pusher
        if pusher is None:
            return
        ctx.hold_lease(before_push=True)
        ctx.unsent_creates.difference_update(
            item.request.ref for item in queued if item.request.op == "create"
        )
        pusher.submit(side, object_name, queued)
        self.collect()

    def collect(self, *, wait: bool = False) -> None:
        """Apply the answered flushes (``wait``: all of them, waiting as needed).

        If a push raised (a spent quota), the other flushes are still waited for and
        applied before the error is raised: what was written is recorded.
        """
        pusher = self.ctx.pusher
        if pusher is None:
            return
        stopping = False
        # Waiting for the vendor can take minutes, for all answers or (``wait``
        # false) for room beyond ``max_waiting``: a stop asked meanwhile (Ctrl-C)
        # cancels the batches not yet sent; those being sent are waited for.
        while not pusher.wait_for_oldest(timeout=_STOP_POLL_SECONDS, wait=wait):
            if self.ctx.should_stop():
                cancelled = pusher.cancel_unsent()
                log.info("stop_cancelled_batches", writes=len(cancelled))
                stopping = True
                break
        error: Exception | None = None
        completed: list[Unit] = []
        while True:
            try:
                for side, object_name, answered in pusher.finished(
                    wait=wait or stopping or error is not None
                ):
                    completed.extend(self._apply_answers(side, object_name, answered))
                break
            except Exception as raised:
                error = error or raised
        # Every answer collected here is recorded in one transaction: one commit per
        # collection, not one per flush (commits were a sixth of an update cycle).
        self.apply(completed)
        if error is not None:
            raise error
        if stopping:
            raise StopRequested()

    def _apply_answers(
        self, side: Side, object_name: str, answered: Answered
    ) -> list[Unit]:
        """Count the answers of one flush; the units they completed."""
        ctx = self.ctx
        report = ctx.report
        completed: list[Unit] = []
        counts = report.side(side.value)
        logged = ctx.decision_rows if ctx.log_decisions else None
        noting = report.record_plan
        platform = side is PLATFORM
        for item, result in answered:
            unit = item.unit
            unit.pending -= 1
            if result.ok:
                if logged is not None:
                    _log_writes(logged, item, side, object_name, result.record_id)
                if item.request.op == "create":
                    counts.created += 1
                    set_id(unit.link, side, result.record_id or "")
                    # A create is told by the record it came from (its new id is
                    # the vendor's, and a dry run's is made up).
                    if noting:
                        report.note(
                            "create", *unit.record_key(side.other)[1:], object_name, ""
                        )
                else:
                    counts.updated += 1
                    if noting:
                        report.note(
                            "update",
                            object_name,
                            item.request.record_id or "",
                            detail=",".join(sorted(item.request.values)),
                        )
                if result.modified_at is not None:
                    if platform:
                        unit.link.platform_modified_at = result.modified_at
                    else:
                        unit.link.crm_modified_at = result.modified_at
            elif result.error is not None and result.error.missing:
                # The record was deleted where the feed could not tell us (a vendor
                # without tombstones): unlink it, with the reason, instead of retrying.
                unit.gone = side
            else:
                counts.failed += 1
                error = result.error
                record_side = side if item.request.op == "update" else side.other
                side_name, obj, record = unit.record_key(record_side)
                unit.failures.append(
                    Failure(
                        side_name,
                        obj,
                        record,
                        error.code if error else "ERROR",
                        f"{side.value} {item.request.op} failed: "
                        f"{error.message if error else 'no detail'}",
                        field=error.field if error else None,
                        retryable=error.retryable if error else False,
                    )
                )
                revert_failed_fields(unit, side)
            if unit.pending == 0:
                completed.append(unit)
        ctx.tick("write", side, object_name, counts.created + counts.updated)
        return completed

    def apply(self, units: list[Unit]) -> None:
        """Record what ``units`` came to, with the fields the vendor accepted since the
        last call in the decision log, in one transaction."""
        ctx = self.ctx
        books = self.books
        if not units and not ctx.decision_rows:
            return
        links: list[LinkRow] = []
        gone: list[int] = []
        done_rows: list[InboxRow] = []
        failures: list[Failure] = []
        resolved: list[tuple[str, str, str]] = []
        refs: list[str] = []
        failed: list[Unit] = []
        for unit in units:
            if unit.ref and not _create_outcome_unknown(unit):
                refs.append(unit.ref)
            if unit.gone is not None:
                self._unlink_gone(unit, gone)
                done_rows.extend(unit.rows)
                books.release(unit)
                continue
            create_failed = unit.creates is not None and not id_of(
                unit.link, unit.creates
            )
            if not create_failed:
                links.append(unit.link)
            if unit.failures:
                failures.extend(unit.failures)
                failed.append(unit)
            else:
                done_rows.extend(unit.rows)
                if ctx.open_errors:  # else nothing to resolve (the usual case)
                    resolved.extend(
                        unit.record_key(side) for side in (Side.PLATFORM, Side.CRM)
                    )
            books.release(unit)
        store = ctx.store
        with ctx.tx() as tx:
            for unit in failed:
                books.fail_rows(
                    tx, unit, retryable=all(f.retryable for f in unit.failures)
                )
            books.store_links(tx, links, gone)
            books.settle_rows(tx, done_rows)
            store.pending.remove(tx, refs)
            store.intents.remove(tx, self.intents.done(units))
            books.record_failures(tx, failures)
            if resolved:
                store.history.resolve_failures(tx, ctx.iid, resolved)
            if ctx.decision_rows:
                store.decisions.record(
                    tx, ctx.iid, ctx.run_id, ctx.clock(), ctx.decision_rows
                )
                ctx.logged_decisions += len(ctx.decision_rows)
                ctx.decision_rows.clear()

    def _unlink_gone(self, unit: Unit, gone: list[int]) -> None:
        assert unit.gone is not None
        ctx = self.ctx
        side = unit.gone
        if unit.link.id is not None:
            gone.append(unit.link.id)
        ctx.report.unlinked += 1
        _, object_name, record_id = unit.record_key(side)
        ctx.report.note("unlink", object_name, record_id, detail="gone on write")
        reason = f"deleted in {side.value} (found on write)"
        log.info("unlinked", reason=reason, record=record_id)
        ctx.store.history.log_event(
            ctx.iid,
            "unlinked",
            {
                "reason": reason,
                "side": side.value,
                "object": object_name,
                "record": record_id,
                "other": id_of(unit.link, side.other),
            },
        )


def _log_writes(
    logged: list[FieldWrite],
    item: QueuedWrite,
    side: Side,
    object_name: str,
    created_id: str | None,
) -> None:
    """The decision log's rows of one accepted write: each field with the rule that
    decided it (a create's fields, its creation rule)."""
    request = item.request
    record_id = (created_id or "") if request.op == "create" else request.record_id
    rules = item.unit.rules.get(side, {})
    fallback = f"create_in_{side.value}"
    side_name = side.value
    for name, value in request.values.items():
        logged.append(
            (
                side_name,
                object_name,
                record_id or "",
                name,
                dumps(value),
                rules.get(name, fallback),
            )
        )


def _create_outcome_unknown(unit: Unit) -> bool:
    """A create whose call was sent but never answered: the record may exist. Its
    pending record stays, so the next cycle looks the target up by match key (and
    links what the lost call made) before it would create again."""
    return unit.creates is not None and any(
        failure.code == OutcomeUnknown.code for failure in unit.failures
    )
