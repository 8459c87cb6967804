"""The sync cycle: read both feeds into the inbox, settle each changed pair, push,
record.

A cycle runs in two phases, so that a crash at any point loses nothing and repeats
nothing that matters:

1. **Read.** Each side's change feed is read page by page from its saved cursor (minus
   an overlap window, for vendors whose clocks or late commits could hide a record).
   Each page is staged in the inbox *in the same transaction* that moves the cursor: the
   cursor never passes a change that is not durably kept.
2. **Settle.** Inbox rows are taken in chunks. Each row finds its link (or a match by
   key, or a create per the creation rules), the policy decides field by field, writes
   queue up into full batches, and each batch's results are applied in one transaction:
   links and baselines updated, inbox rows removed, failures recorded and kept for a
   later cycle.

Creates are recorded as pending before they are pushed. If the process dies between the
push and the commit, the next cycle finds the created record (it is in the feed, and is
looked up by match key) and links it instead of creating it twice; having run to its
end, it clears those pending records. Updates are recorded likewise (write intents, see
:mod:`._intents`): a record that holds what a dead cycle meant to write is known as
crmsync's own write, so an edit made on the other side meanwhile is not lost to it.
Every read is by key: the cost of a cycle follows the records that changed, never the
number of links (save the link reconciliation of :mod:`._reconcile`, once, when a feed
says it lost deletions).

:class:`SyncEngine` is the orchestrator: for each cycle it builds one
:class:`~._context.CycleContext` (the cycle's store, connections, report, lease and the
sets its parts leave for each other) and runs the phases through named collaborators,
each a class of its own over that context:

* :class:`~._feeds.FeedReader`: reading pages, leaving out echoes, staging them with
  their cursor, reconciling lost deletions (:mod:`._reconcile`);
* :class:`~._linking.Linker`: tombstones, conversions, merges and relinks;
* :class:`~._matching.Matcher`: matching unlinked records by key (candidates, rivals,
  lookups) or creating them;
* :class:`~._settling.Settler`: settling the inbox chunk by chunk and deciding fields;
* :class:`~._pushing.Writer`: queueing, pushing (:mod:`._writes`), applying answers,
  the decision log's rows;
* :class:`~._intents.Intents`: the write-intent ledger;
* :class:`~._books.Bookkeeper`: links stored, rows settled, failed or parked, errors
  recorded.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Callable

import structlog

from crmsync.contract.models import Capability
from crmsync.engine._context import LEASE_SECONDS, CycleContext
from crmsync.engine._feeds import FeedReader
from crmsync.engine._intents import Intents
from crmsync.engine._linking import Linker
from crmsync.engine._settling import Settler
from crmsync.engine._writes import Pusher, SimulatedPusher, WriteQueue
from crmsync.engine.report import CycleReport, Progress
from crmsync.errors import (
    BudgetExhausted,
    CrmsyncError,
    CycleBusy,
    QuotaExhausted,
    StopRequested,
)
from crmsync.logs import redact_text
from crmsync.models import CRM, PLATFORM, Integration
from crmsync.plugins import Connection
from crmsync.policy.rules import TimeComparison
from crmsync.settings import CrmsyncSettings
from crmsync.store import StateStore, dry_run_store

log = structlog.get_logger("crmsync.engine")


class SyncEngine:
    """Runs cycles of one integration between its platform and CRM connections."""

    def __init__(
        self,
        store: StateStore,
        integration: Integration,
        platform: Connection,
        crm: Connection,
        *,
        settings: CrmsyncSettings | None = None,
        progress: Callable[[Progress], None] | None = None,
        chunk_size: int = 1000,
        page_size: int | None = None,
        max_attempts: int = 8,
        clock: Callable[[], dt.datetime] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        if integration.id is None:
            raise CrmsyncError("integration must be stored before it can sync")
        self.store = store
        self.integration = integration
        self.iid: int = integration.id
        self.connections = {PLATFORM: platform, CRM: crm}
        self.settings = settings or CrmsyncSettings()
        self.progress = progress
        self.chunk_size = chunk_size
        self.page_size = page_size
        self.max_attempts = max_attempts
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        # Asked between pages and chunks (Ctrl-C in `crmsync sync`): the cycle stops
        # after the current batch with everything read or written so far kept.
        self.should_stop = should_stop or (lambda: False)

    def run_cycle(
        self, *, dry_run: bool = False, record_plan: bool = False
    ) -> CycleReport:
        """Run one cycle. A dry run reads and decides but writes nothing anywhere.

        ``record_plan`` keeps every field write and record outcome in the report
        (:meth:`CycleReport.plan`), as a dry run always does: a dry run followed by a
        real run with no edits in between reports the same plan.
        """
        report = CycleReport(
            self.integration.name, dry_run=dry_run, record_plan=record_plan
        )
        owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        if not dry_run and not self.store.leases.acquire(
            self.iid, owner, seconds=LEASE_SECONDS
        ):
            raise CycleBusy(
                f"a cycle of {self.integration.name!r} is already running",
                hint="wait for it to finish; a cycle whose process died holds nothing",
            )
        ctx = CycleContext(
            store=self.store,
            integration=self.integration,
            iid=self.iid,
            connections=self.connections,
            settings=self.settings,
            report=report,
            clock=self.clock,
            should_stop=self.should_stop,
            progress=self.progress,
            chunk_size=self.chunk_size,
            page_size=self.page_size,
            max_attempts=self.max_attempts,
            lease_owner=None if dry_run else owner,
            lease_renewed=time.monotonic(),
            log_decisions=not dry_run and self.settings.decision_log_days > 0,
        )
        structlog.contextvars.bind_contextvars(integration=self.integration.name)
        try:
            if not dry_run:
                ctx.run_id = report.run_id = self.store.history.start_run(
                    self.iid, dry_run=False
                )
            structlog.contextvars.bind_contextvars(
                cycle=ctx.run_id if not dry_run else "dry-run"
            )
            if dry_run:
                self._dry_run(ctx)
            else:
                self._run(ctx)
        except (BudgetExhausted, QuotaExhausted) as error:
            report.status, report.message = "stopped", str(error)
            log.warning("cycle_stopped_budget", reason=str(error))
        except StopRequested as error:
            report.status, report.message = "stopped", str(error)
            log.warning("cycle_stopped_on_request")
        except CrmsyncError as error:
            report.status, report.message = "failed", str(error)
            log.error("cycle_failed", error=str(error))
        except BaseException as error:
            # A bug, a lost database, Ctrl-C, a killed thread: the run did not finish,
            # whatever it had done; it must not be recorded as a success (or lock the
            # source of truth). The error goes on to the caller.
            report.status = "failed"
            report.message = (
                f"interrupted ({type(error).__name__})"
                if not isinstance(error, Exception)
                else f"{type(error).__name__}: {redact_text(str(error))}"
            )
            log.error("cycle_failed", error=report.message)
            raise
        finally:
            structlog.contextvars.unbind_contextvars(
                "integration", "cycle", "side", "object"
            )
            report.finished_at = dt.datetime.now(dt.UTC)
            for side, connection in self.connections.items():
                report.api_calls[side.value] = dict(connection.stats.calls) | dict(
                    ctx.costs.get(side.value, {})
                )
                for reason, count in connection.stats.waits.items():
                    report.retry_waits[f"{side.value}:{reason}"] = count
            if report.status == "succeeded" and report.errors:
                report.status = "partial"
            if not dry_run:
                self._finish(report, owner, ctx.run_id)
        return report

    def _dry_run(self, ctx: CycleContext) -> None:
        """The cycle on a copy of this integration's working state (see
        :func:`~crmsync.store.dry_run_store`), with pushes answered by a simulation:
        every decision the real run would make, and nothing a real cycle waits for."""
        with dry_run_store(self.store, self.iid) as shadow:
            ctx.store = shadow
            try:
                self._run(ctx)
            finally:
                ctx.store = self.store

    def _run(self, ctx: CycleContext) -> None:
        for connection in self.connections.values():
            # A connection kept between cycles keeps its session and renews it on
            # expiry (AuthenticationExpired); authenticating again would spend a token
            # request on every cycle, idle ones included.
            if not connection.authenticated:
                connection.authenticate()
        started = dt.datetime.now(dt.UTC)
        store, intents = ctx.store, Intents(ctx)
        with ctx.tx() as tx:
            store.inbox.purge_settled(tx, self.iid)  # left by a cycle that died
            ctx.force_lookup = store.pending.any(tx, self.iid)
            intents.start(tx)
        # With no open record errors (the usual case) a success has nothing to resolve:
        # skip that UPDATE per batch until this cycle records an error of its own.
        ctx.open_errors = bool(store.history.open_errors(self.iid, limit=1))
        feeds = FeedReader(ctx)
        for side in (PLATFORM, CRM):
            for object_name in ctx.objects(side):
                feeds.read(side, object_name)
        ctx.settle_by_deleting = {
            (side.value, object_name)
            for side in (PLATFORM, CRM)
            for object_name in ctx.objects(side)
            # Matching looks such a side's records up at the vendor (Matcher), so its
            # settled rows are never needed again this cycle.
            if (side, object_name) not in ctx.full_read
            and Capability.LOOKUP in self.connections[side].description.capabilities
        }
        Linker(ctx).relink_moves()
        ctx.times = self._measure_times(ctx.report)
        settler = Settler(ctx)
        writer = settler.writer
        queue = WriteQueue(writer.flush, writer.flush_threshold)
        pusher = (
            SimulatedPusher(self.connections, self.clock)
            if ctx.report.dry_run
            else Pusher(self.connections)
        )
        ctx.pusher = pusher
        try:
            try:
                for side in (PLATFORM, CRM):
                    for object_name in ctx.objects(side):
                        settler.settle(side, object_name, queue)
            except StopRequested:
                # Decided writes are pushed and recorded when the cycle is asked to
                # stop: "after the current batch" includes the batch being filled.
                queue.flush_all()
                writer.collect(wait=True)
                raise
            queue.flush_all()
            writer.collect(wait=True)
        except BaseException:
            pusher.abandon()
            raise
        finally:
            ctx.pusher = None
            pusher.close()
            writer.note_unsent(pusher.unsent)
            writer.forget_unsent_creates()
        with ctx.tx() as tx:
            store.inbox.purge_settled(tx, self.iid)
            if not ctx.report.dry_run:
                writer.purge_decisions(tx)
            if ctx.force_lookup:
                # A dead cycle's creates: this cycle read the feed past them and looked
                # their match keys up, so each is linked (or its record parked) by now.
                # Left in place, they would force lookups on every later full read.
                # Those still in doubt stay: their records wait for a later cycle.
                store.pending.clear(
                    tx, self.iid, before=started, keep=ctx.deferred_creates
                )
            intents.end(tx, started)

    def _measure_times(self, report: CycleReport) -> TimeComparison:
        """The shared precision and each vendor's measured clock offset, recorded in the
        cycle report (a connector that cannot measure its offset counts as exact)."""
        offsets = {
            side: self.connections[side].clock_offset() for side in (PLATFORM, CRM)
        }
        for side, offset in offsets.items():
            if offset is not None:
                report.clock_offsets[side.value] = {
                    "offset_seconds": round(offset.offset_seconds, 3),
                    "uncertainty_seconds": round(offset.uncertainty_seconds, 3),
                }
        return TimeComparison.measured(
            max(
                self.connections[side].description.timestamp_precision_seconds
                for side in (PLATFORM, CRM)
            ),
            offsets[PLATFORM],
            offsets[CRM],
        )

    def _finish(self, report: CycleReport, owner: str, run_id: int | None) -> None:
        try:
            if (
                report.status != "failed"
                and self.integration.source_of_truth_locked_at is None
            ):
                with self.store.database.transaction() as tx:
                    self.store.config.lock_source_of_truth(
                        tx, self.iid, dt.datetime.now(dt.UTC)
                    )
            if run_id is not None:
                self.store.history.finish_run(
                    run_id,
                    status=report.status,
                    counts=report.counts(),
                    message=report.message,
                )
        finally:
            self.store.leases.release(self.iid, owner)
        log.info(
            "cycle_finished",
            status=report.status,
            writes=report.writes,
            errors=report.errors,
            seconds=round(report.duration_seconds, 3),
        )
