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
looked up by match key) and links it instead of creating it twice. Every read is by key:
the cost of a cycle follows the records that changed, never the number of links.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import structlog
from sqlalchemy import Connection as DbConnection

from crmsync.contract.models import Capability, Cursor, WriteRequest
from crmsync.engine._units import (
    Failure,
    Unit,
    decide_fields,
    plan_create,
    revert_failed_fields,
)
from crmsync.engine._writes import QueuedWrite, WriteQueue, push_batches
from crmsync.engine.report import CycleReport, Progress
from crmsync.errors import BudgetExhausted, CrmsyncError, QuotaExhausted
from crmsync.models import Integration, ObjectPair, Side
from crmsync.plugins import Connection
from crmsync.policy import should_create
from crmsync.settings import CrmsyncSettings
from crmsync.store import InboxRow, LinkRow, StateStore, match_key

log = structlog.get_logger("crmsync.engine")


class CycleBusy(CrmsyncError):
    """Another process is running a cycle of this integration."""


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
    ) -> None:
        if integration.id is None:
            raise CrmsyncError("integration must be stored before it can sync")
        self.store = store
        self.integration = integration
        self.iid: int = integration.id
        self.connections = {Side.PLATFORM: platform, Side.CRM: crm}
        self.settings = settings or CrmsyncSettings()
        self.progress = progress
        self.chunk_size = chunk_size
        self.page_size = page_size
        self.max_attempts = max_attempts
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._dry_tx: DbConnection | None = None
        self._report = CycleReport(integration.name)
        self._in_flight: set[tuple[str, str, str]] = set()
        self._skip_rows: set[int] = set()
        self._full_read: set[tuple[Side, str]] = set()
        self._force_lookup = False
        self._open_errors = True
        self._run_id: int | None = None

    # -- public
    # --------------------------------------------------------------------------
    def run_cycle(self, *, dry_run: bool = False) -> CycleReport:
        """Run one cycle. A dry run reads and decides but writes nothing anywhere."""
        report = self._report = CycleReport(self.integration.name, dry_run=dry_run)
        self._in_flight.clear()
        self._skip_rows.clear()
        self._full_read.clear()
        owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        if not dry_run and not self.store.acquire_lease(self.iid, owner, seconds=3600):
            raise CycleBusy(
                f"a cycle of {self.integration.name!r} is already running",
                hint="wait for it to finish; its lease expires after an hour",
            )
        structlog.contextvars.bind_contextvars(integration=self.integration.name)
        try:
            if not dry_run:
                self._run_id = report.run_id = self.store.start_run(
                    self.iid, dry_run=False
                )
            structlog.contextvars.bind_contextvars(
                cycle=self._run_id if not dry_run else "dry-run"
            )
            with self._session(dry_run):
                self._run(report)
        except (BudgetExhausted, QuotaExhausted) as error:
            report.status, report.message = "stopped", str(error)
            log.warning("cycle_stopped_budget", reason=str(error))
        except CrmsyncError as error:
            report.status, report.message = "failed", str(error)
            log.error("cycle_failed", error=str(error))
        finally:
            structlog.contextvars.unbind_contextvars(
                "integration", "cycle", "side", "object"
            )
            report.finished_at = dt.datetime.now(dt.UTC)
            for side, connection in self.connections.items():
                report.api_calls[side.value] = dict(connection.stats.calls)
                for reason, count in connection.stats.waits.items():
                    report.retry_waits[f"{side.value}:{reason}"] = count
            if report.status == "succeeded" and report.errors:
                report.status = "partial"
            if not dry_run:
                self._finish(report, owner)
        return report

    # -- phases
    # ----------------------------------------------------------------------------
    def _run(self, report: CycleReport) -> None:
        for connection in self.connections.values():
            # A connection kept between cycles keeps its session and renews it on
            # expiry (AuthenticationExpired); authenticating again would spend a token
            # request on every cycle, idle ones included.
            if not connection.authenticated:
                connection.authenticate()
        with self._tx() as tx:
            self.store.purge_settled(tx, self.iid)  # left by a cycle that died
            self._force_lookup = self.store.has_pending_creates(tx, self.iid)
        # With no open record errors (the usual case) a success has nothing to resolve:
        # skip that UPDATE per batch until this cycle records an error of its own.
        self._open_errors = bool(self.store.open_errors(self.iid, limit=1))
        for side in (Side.PLATFORM, Side.CRM):
            for object_name in self._objects(side):
                self._read_feed(side, object_name)
        queue = WriteQueue(self._flush, self._flush_threshold)
        for side in (Side.PLATFORM, Side.CRM):
            for object_name in self._objects(side):
                self._settle(side, object_name, queue)
        queue.flush_all()
        with self._tx() as tx:
            self.store.purge_settled(tx, self.iid)

    def _read_feed(self, side: Side, object_name: str) -> None:
        structlog.contextvars.bind_contextvars(side=side.value, object=object_name)
        connection = self.connections[side]
        fields = self._fields(side, object_name)
        match_field = self._match_field(side, object_name)
        with self._tx() as tx:
            saved, read_at = self.store.get_cursor(
                tx, self.iid, side.value, object_name
            )
        start = self._resume_from(saved, read_at)
        if saved is None:
            self._full_read.add((side, object_name))
        started = self.clock()
        position, page_token, read = saved, None, 0
        while True:
            page = connection.fetch_changed(
                object_name,
                fields=fields,
                cursor=start,
                page=page_token,
                page_size=self.page_size,
            )
            if position is None or page.cursor.sort_key() >= position.sort_key():
                position = page.cursor
            with self._tx() as tx:
                self.store.stage(
                    tx,
                    self.iid,
                    side.value,
                    object_name,
                    page.records,
                    page.tombstones,
                    match_field,
                )
                self.store.save_cursor(
                    tx, self.iid, side.value, object_name, position, read_at=started
                )
            read += len(page.records) + len(page.tombstones)
            counts = self._report.side(side.value)
            counts.read += len(page.records)
            counts.deleted += len(page.tombstones)
            self._tick("read", side, object_name, read)
            if page.next_page is None:
                break
            page_token = page.next_page
        log.info("feed_read", records=read)

    def _resume_from(
        self, saved: Cursor | None, read_at: dt.datetime | None
    ) -> Cursor | None:
        """Where the next read starts: the saved position, or the overlap window before
        it.

        A record committed late can carry a modification time earlier than records the
        last read already saw. Only records stamped within ``overlap_seconds`` before
        that read started can be such, so only that window is read again; a feed whose
        last record is older than the window resumes exactly where it stopped (an idle
        cycle reads nothing).
        """
        overlap = dt.timedelta(seconds=self.settings.overlap_seconds)
        if saved is None or saved.modified_at is None or not overlap:
            return saved
        window_start = (read_at or saved.modified_at) - overlap
        if saved.modified_at < window_start:
            return saved
        return Cursor(modified_at=window_start, token=saved.token)

    def _settle(self, side: Side, object_name: str, queue: WriteQueue) -> None:
        structlog.contextvars.bind_contextvars(side=side.value, object=object_name)
        after, done = 0, 0
        while True:
            with self._tx() as tx:
                rows = self.store.inbox_chunk(
                    tx, self.iid, side.value, object_name, after, self.chunk_size
                )
            if not rows:
                break
            after = rows[-1].id
            rows = [
                row
                for row in rows
                if row.id not in self._skip_rows
                and (row.side, row.object_name, row.record_id) not in self._in_flight
            ]
            self._settle_chunk(side, object_name, rows, queue)
            done += len(rows)
            self._tick("decide", side, object_name, done)

    # -- settling a chunk
    # ------------------------------------------------------------------
    def _settle_chunk(
        self, side: Side, object_name: str, rows: list[InboxRow], queue: WriteQueue
    ) -> None:
        other = side.other
        with self._tx() as tx:
            links = self.store.links_for(
                tx,
                self.iid,
                side.value,
                [(row.object_name, row.record_id) for row in rows],
            )
            counterpart_keys = [self._other_key(link, side) for link in links.values()]
            counterparts = {
                (row.object_name, row.record_id): row
                for row in self.store.inbox_for_records(
                    tx, self.iid, other.value, counterpart_keys
                )
                if row.id not in self._skip_rows
                and (row.side, row.object_name, row.record_id) not in self._in_flight
            }
        units: list[Unit] = []
        done_rows: list[int] = []
        link_changes: list[LinkRow] = []
        link_deletes: list[int] = []
        failures: list[Failure] = []
        unlinked: list[InboxRow] = []
        for row in rows:
            link = links.get((row.object_name, row.record_id))
            if row.kind == "tombstone":
                done_rows.append(row.id)
                if link is not None:
                    self._on_tombstone(row, link, side, link_changes, link_deletes)
                continue
            if link is None:
                unlinked.append(row)
                continue
            if row.converted_id is not None and side is Side.CRM:
                done_rows.append(row.id)
                self._relink(
                    link,
                    side,
                    row.converted_object or row.object_name,
                    row.converted_id,
                    link_changes,
                    link_deletes,
                    "converted",
                )
                continue
            pair = self._pair(link.platform_object, link.crm_object)
            if pair is None:
                done_rows.append(row.id)
                continue
            counterpart = counterparts.get(self._other_key(link, side))
            if counterpart is not None and (
                counterpart.kind != "record" or counterpart.converted_id is not None
            ):
                counterpart = (
                    None  # a deletion or conversion is settled in its own loop
                )
            unit = Unit(
                pair=pair,
                link=link,
                is_new_link=False,
                rows=[row] + ([counterpart] if counterpart else []),
            )
            self._decide(unit, side, row, counterpart)
            units.append(unit)
        if unlinked:
            with self._tx() as tx:
                units.extend(
                    self._match_or_create(
                        tx, side, object_name, unlinked, failures, done_rows
                    )
                )
        # Units with nothing to write settle now, in one transaction with the chunk's
        # other bookkeeping; the rest wait in the queue for full batches.
        writing = [unit for unit in units if unit.writes]
        settled = [unit for unit in units if not unit.writes]
        for unit in settled:
            if unit.failures:
                failures.extend(unit.failures)
                self._fail_rows(unit, retryable=False)
            else:
                done_rows.extend(row.id for row in unit.rows if row.id > 0)
            link_changes.append(unit.link)
        if not self._report.dry_run:
            with self._tx() as tx:
                self.store.upsert_links(tx, self.iid, link_changes)
                self.store.delete_links(tx, link_deletes)
                self.store.settle_inbox(tx, done_rows)
                self._record_failures(tx, failures)
                # One insert for the chunk's creates, not one transaction per create.
                self.store.add_pending_creates(
                    tx,
                    self.iid,
                    [self._pending_create(u) for u in writing if u.creates is not None],
                )
        for unit in settled:
            self._release(unit)
        for unit in writing:
            self._enqueue(unit, queue)

    def _pending_create(self, unit: Unit) -> dict[str, Any]:
        target = unit.creates
        assert target is not None
        return {
            "ref": unit.ref,
            "target_side": target.value,
            "target_object": self._object_of(unit.link, target),
            "source_object": self._object_of(unit.link, target.other),
            "source_id": self._id_of(unit.link, target.other),
            "match_key": next((r.match_key for r in unit.rows), None),
        }

    def _decide(
        self, unit: Unit, side: Side, row: InboxRow, counterpart: InboxRow | None
    ) -> None:
        link = unit.link
        own_values, own_at = row.values, row.modified_at
        other_values = counterpart.values if counterpart is not None else None
        other_at = (
            counterpart.modified_at
            if counterpart is not None
            else (
                link.crm_modified_at
                if side is Side.PLATFORM
                else link.platform_modified_at
            )
        )
        args: tuple[Any, ...]
        if side is Side.PLATFORM:
            args = (own_values, other_values, own_at, other_at)
            link.platform_modified_at = own_at
            if counterpart is not None:
                link.crm_modified_at = counterpart.modified_at
        else:
            args = (other_values, own_values, other_at, own_at)
            link.crm_modified_at = own_at
            if counterpart is not None:
                link.platform_modified_at = counterpart.modified_at
        report = self._report
        decisions: dict[str, int] = {}
        decide_fields(
            unit,
            self.integration,
            *args,
            decisions=decisions,
            planned=report.planned if report.dry_run else None,
        )
        report.decisions.update(decisions)

    def _match_or_create(
        self,
        tx: DbConnection,
        side: Side,
        object_name: str,
        rows: list[InboxRow],
        failures: list[Failure],
        done_rows: list[int],
    ) -> list[Unit]:
        """Link unlinked rows by match key; create where the rules say; else drop."""
        other = side.other
        pairs = [
            pair
            for pair in self.integration.pairs_in_match_order()
            if (pair.platform_object if side is Side.PLATFORM else pair.crm_object)
            == object_name
        ]
        keys = sorted({row.match_key for row in rows if row.match_key})
        candidates = self._candidates(tx, side, pairs, keys)
        rule = (
            self.integration.create_in_crm
            if side is Side.PLATFORM
            else self.integration.create_in_platform
        )
        units: list[Unit] = []
        for row in rows:
            unit = None
            claimed = False
            for pair in pairs:
                other_object = (
                    pair.crm_object if side is Side.PLATFORM else pair.platform_object
                )
                found = candidates.get((other_object, row.match_key or ""), ([], False))
                free, linked_elsewhere = found
                # A candidate another row of this cycle just claimed counts as linked.
                busy = [
                    c
                    for c in free
                    if (other.value, c.object_name, c.record_id) in self._in_flight
                ]
                free = [c for c in free if c not in busy]
                linked_elsewhere = linked_elsewhere or bool(busy)
                if len(free) >= 2:
                    ids = ", ".join(sorted(c.record_id for c in free)[:5])
                    failures.append(
                        Failure(
                            side.value,
                            row.object_name,
                            row.record_id,
                            "AMBIGUOUS_MATCH",
                            f"{len(free)} {other_object} records share the "
                            f"match key: {ids}",
                        )
                    )
                    self._report.ambiguous += 1
                    self._park(tx, row, "ambiguous match")
                    claimed = True
                    break
                if len(free) == 1:
                    unit = self._new_link_unit(side, row, pair, free[0])
                    break
                if linked_elsewhere:
                    claimed = True
                    done_rows.append(row.id)
                    break
            if claimed:
                continue
            if unit is not None:
                units.append(unit)
                continue
            if not pairs or not should_create(rule, row.values):
                done_rows.append(row.id)
                continue
            unit = self._create_unit(side, row, pairs, failures)
            if unit is None:
                self._park(tx, row, "cannot create")
            else:
                units.append(unit)
        return units

    def _candidates(
        self, tx: DbConnection, side: Side, pairs: list[ObjectPair], keys: list[str]
    ) -> dict[tuple[str, str], tuple[list[InboxRow], bool]]:
        """Per (other object, match key): the unlinked candidates and whether a linked
        one exists.
        """
        other = side.other
        found: dict[tuple[str, str], tuple[list[InboxRow], bool]] = {}
        if not keys:
            return found
        for pair in pairs:
            other_object = (
                pair.crm_object if side is Side.PLATFORM else pair.platform_object
            )
            match_field = (
                pair.crm_match_field
                if side is Side.PLATFORM
                else pair.platform_match_field
            )
            rows: dict[str, InboxRow] = {
                row.record_id: row
                for row in self.store.inbox_by_match_keys(
                    tx, self.iid, other.value, [other_object], keys
                )
            }
            connection = self.connections[other]
            if (
                (other, other_object) not in self._full_read or self._force_lookup
            ) and Capability.LOOKUP in connection.description.capabilities:
                fields = self._fields(other, other_object)
                for record in connection.lookup_records(
                    other_object, field=match_field, values=keys, fields=fields
                ):
                    if record.record_id not in rows:
                        rows[record.record_id] = InboxRow(
                            id=0,
                            side=other.value,
                            object_name=other_object,
                            record_id=record.record_id,
                            modified_at=record.modified_at,
                            kind="record",
                            values=record.values,
                            match_key=match_key(record.values.get(match_field)),
                            converted_object=None,
                            converted_id=None,
                            merged_into=None,
                            attempts=0,
                            parked=False,
                        )
            linked = self.store.links_for(
                tx, self.iid, other.value, [(other_object, rid) for rid in rows]
            )
            for row in rows.values():
                if row.match_key is None:
                    continue
                free, any_linked = found.get((other_object, row.match_key), ([], False))
                # A row parked or failed (an ambiguous match among them) is no
                # candidate:
                # linking it would be the guess its own ambiguity forbade.
                if (
                    (other_object, row.record_id) in linked
                    or row.parked
                    or row.id in self._skip_rows
                ):
                    any_linked = True
                else:
                    free = [*free, row]
                found[(other_object, row.match_key)] = (free, any_linked)
        return found

    def _new_link_unit(
        self, side: Side, row: InboxRow, pair: ObjectPair, match: InboxRow
    ) -> Unit:
        platform_row, crm_row = (row, match) if side is Side.PLATFORM else (match, row)
        link = LinkRow(
            id=None,
            platform_object=platform_row.object_name,
            platform_id=platform_row.record_id,
            crm_object=crm_row.object_name,
            crm_id=crm_row.record_id,
            baseline={},
            platform_modified_at=platform_row.modified_at,
            crm_modified_at=crm_row.modified_at,
        )
        unit = Unit(
            pair=pair,
            link=link,
            is_new_link=True,
            rows=[r for r in (row, match) if r.id > 0],
        )
        decisions: dict[str, int] = {}
        decide_fields(
            unit,
            self.integration,
            platform_row.values,
            crm_row.values,
            platform_row.modified_at,
            crm_row.modified_at,
            decisions=decisions,
            planned=self._report.planned if self._report.dry_run else None,
        )
        self._report.decisions.update(decisions)
        self._report.linked += 1
        self._in_flight.add((match.side, match.object_name, match.record_id))
        return unit

    def _create_unit(
        self,
        side: Side,
        row: InboxRow,
        pairs: list[ObjectPair],
        failures: list[Failure],
    ) -> Unit | None:
        rule = (
            self.integration.create_in_crm
            if side is Side.PLATFORM
            else self.integration.create_in_platform
        )
        target = side.other
        pair = self._creation_pair(pairs, side, rule.target_object)
        target_object = pair.crm_object if target is Side.CRM else pair.platform_object
        if row.match_key is None:
            failures.append(
                Failure(
                    side.value,
                    row.object_name,
                    row.record_id,
                    "NO_MATCH_KEY",
                    "not created: the record has no match key value, so a "
                    "retry could not tell whether it was already created",
                )
            )
            return None
        link = LinkRow(
            id=None,
            platform_object=pair.platform_object,
            platform_id="",
            crm_object=pair.crm_object,
            crm_id="",
            baseline={},
            platform_modified_at=None,
            crm_modified_at=None,
        )
        if side is Side.PLATFORM:
            link.platform_id, link.platform_modified_at = row.record_id, row.modified_at
        else:
            link.crm_id, link.crm_modified_at = row.record_id, row.modified_at
        unit = Unit(pair=pair, link=link, is_new_link=True, rows=[row])
        try:
            plan_create(
                unit,
                side,
                row.values,
                target_object,
                planned=self._report.planned if self._report.dry_run else None,
            )
        except ValueError as error:
            failures.append(
                Failure(
                    side.value, row.object_name, row.record_id, "CONVERSION", str(error)
                )
            )
            return None
        unit.ref = f"{self.iid}:{side.value}:{row.object_name}:{row.record_id}"
        return unit

    # -- queueing, pushing and applying
    # ----------------------------------------------------
    def _enqueue(self, unit: Unit, queue: WriteQueue) -> None:
        for side in unit.writes:
            self._in_flight.add(unit.record_key(side))
        for row in unit.rows:
            self._in_flight.add((row.side, row.object_name, row.record_id))
        # A create's pending record was committed with its chunk (_settle_chunk), before
        # any of the chunk's writes can be pushed.
        for side, values in unit.writes.items():
            op = "create" if unit.creates is side else "update"
            request = WriteRequest(
                ref=unit.ref
                if op == "create" and unit.ref
                else f"{self.iid}:{side.value}:{self._id_of(unit.link, side)}",
                op=op,
                record_id=None if op == "create" else self._id_of(unit.link, side),
                values=values,
            )
            unit.pending += 1
            queue.add(
                side, self._object_of(unit.link, side), QueuedWrite(request, unit, side)
            )

    def _flush_threshold(self, side: Side) -> int:
        description = self.connections[side].description
        return description.max_batch_size * description.max_concurrency

    def _flush(self, side: Side, object_name: str, queued: list[QueuedWrite]) -> None:
        if self._report.dry_run:
            return
        answered = push_batches(self.connections[side], object_name, queued)
        completed: list[Unit] = []
        counts = self._report.side(side.value)
        for item, result in answered:
            unit = item.unit
            unit.pending -= 1
            if result.ok:
                if item.request.op == "create":
                    counts.created += 1
                    self._set_id(unit.link, side, result.record_id or "")
                else:
                    counts.updated += 1
                if result.modified_at is not None:
                    self._set_modified(unit.link, side, result.modified_at)
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
        self._apply(completed)
        self._tick("write", side, object_name, counts.created + counts.updated)

    def _apply(self, units: list[Unit]) -> None:
        links: list[LinkRow] = []
        gone: list[int] = []
        done_rows: list[int] = []
        failures: list[Failure] = []
        resolved: list[tuple[str, str, str]] = []
        refs: list[str] = []
        for unit in units:
            if unit.ref:
                refs.append(unit.ref)
            if unit.gone is not None:
                self._unlink_gone(unit, gone)
                done_rows.extend(row.id for row in unit.rows if row.id > 0)
                self._release(unit)
                continue
            create_failed = unit.creates is not None and not self._id_of(
                unit.link, unit.creates
            )
            if not create_failed:
                links.append(unit.link)
            if unit.failures:
                failures.extend(unit.failures)
                self._fail_rows(unit, retryable=all(f.retryable for f in unit.failures))
            else:
                done_rows.extend(row.id for row in unit.rows if row.id > 0)
                resolved.extend(
                    unit.record_key(side) for side in (Side.PLATFORM, Side.CRM)
                )
            self._release(unit)
        with self._tx() as tx:
            self.store.upsert_links(tx, self.iid, links)
            self.store.delete_links(tx, gone)
            self.store.settle_inbox(tx, done_rows)
            self.store.remove_pending_creates(tx, refs)
            self._record_failures(tx, failures)
            if self._open_errors:
                self.store.resolve_failures(tx, self.iid, resolved)

    def _unlink_gone(self, unit: Unit, gone: list[int]) -> None:
        assert unit.gone is not None
        side = unit.gone
        if unit.link.id is not None:
            gone.append(unit.link.id)
        self._report.unlinked += 1
        _, object_name, record_id = unit.record_key(side)
        reason = f"deleted in {side.value} (found on write)"
        log.info("unlinked", reason=reason, record=record_id)
        self.store.log_event(
            self.iid,
            "unlinked",
            {
                "reason": reason,
                "side": side.value,
                "object": object_name,
                "record": record_id,
                "other": self._id_of(unit.link, side.other),
            },
        )

    def _release(self, unit: Unit) -> None:
        """The unit's records are settled (or failed): others may claim them again."""
        for row in unit.rows:
            self._in_flight.discard((row.side, row.object_name, row.record_id))
        for side in (Side.PLATFORM, Side.CRM):
            self._in_flight.discard(unit.record_key(side))

    # -- link maintenance
    # ------------------------------------------------------------------
    def _on_tombstone(
        self,
        row: InboxRow,
        link: LinkRow,
        side: Side,
        changes: list[LinkRow],
        deletes: list[int],
    ) -> None:
        if row.merged_into:
            self._relink(
                link, side, row.object_name, row.merged_into, changes, deletes, "merged"
            )
            return
        deletes.append(link.id or 0)
        self._report.unlinked += 1
        log.info(
            "unlinked",
            reason=f"deleted in {side.value}",
            record=row.record_id,
            other=self._id_of(link, side.other),
        )
        if not self._report.dry_run:
            self.store.log_event(
                self.iid,
                "unlinked",
                {
                    "reason": f"deleted in {side.value}",
                    "side": side.value,
                    "object": row.object_name,
                    "record": row.record_id,
                    "other": self._id_of(link, side.other),
                },
            )

    def _relink(
        self,
        link: LinkRow,
        side: Side,
        object_name: str,
        record_id: str,
        changes: list[LinkRow],
        deletes: list[int],
        why: str,
    ) -> None:
        with self._tx() as tx:
            taken = self.store.links_for(
                tx, self.iid, side.value, [(object_name, record_id)]
            )
        if taken:
            # The surviving record already has its own link: this one has nothing left
            # to sync.
            deletes.append(link.id or 0)
            self._report.unlinked += 1
            reason = f"{why} into a record that is already linked"
        else:
            old = self._id_of(link, side)
            if side is Side.PLATFORM:
                link.platform_object, link.platform_id = object_name, record_id
            else:
                link.crm_object, link.crm_id = object_name, record_id
            changes.append(link)
            self._report.relinked += 1
            reason = f"{why}: {old} -> {record_id}"
        log.info("relinked" if not taken else "unlinked", reason=reason)
        if not self._report.dry_run:
            self.store.log_event(
                self.iid,
                "relinked" if not taken else "unlinked",
                {"side": side.value, "reason": reason},
            )

    # -- failures
    # ----------------------------------------------------------------------------
    def _fail_rows(self, unit: Unit, *, retryable: bool) -> None:
        ids = [row.id for row in unit.rows if row.id > 0]
        self._skip_rows.update(ids)
        if self._report.dry_run or not ids:
            return
        message = "; ".join(f"{f.code}: {f.message}" for f in unit.failures)[:2000]
        with self._tx() as tx:
            self.store.fail_inbox(
                tx, ids, message, park=not retryable, max_attempts=self.max_attempts
            )

    def _park(self, tx: DbConnection, row: InboxRow, why: str) -> None:
        self._skip_rows.add(row.id)
        if not self._report.dry_run:
            self.store.fail_inbox(tx, [row.id], why, park=True, max_attempts=1)

    def _record_failures(self, tx: DbConnection, failures: list[Failure]) -> None:
        if not failures or self._report.dry_run:
            return
        self._open_errors = True
        self.store.record_failures(
            tx,
            self.iid,
            self._run_id,
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

    # -- small helpers
    # -------------------------------------------------------------------------
    def _finish(self, report: CycleReport, owner: str) -> None:
        try:
            if (
                report.status != "failed"
                and self.integration.source_of_truth_locked_at is None
            ):
                with self._tx() as tx:
                    self.store.lock_source_of_truth(
                        tx, self.iid, dt.datetime.now(dt.UTC)
                    )
            if self._run_id is not None:
                self.store.finish_run(
                    self._run_id,
                    status=report.status,
                    counts=report.counts(),
                    message=report.message,
                )
        finally:
            self.store.release_lease(self.iid, owner)
        log.info(
            "cycle_finished",
            status=report.status,
            writes=report.writes,
            errors=report.errors,
            seconds=round(report.duration_seconds, 3),
        )

    @contextlib.contextmanager
    def _session(self, dry_run: bool) -> Iterator[None]:
        if not dry_run:
            yield
            return
        with self.store.engine.connect() as connection:
            transaction = connection.begin()
            self._dry_tx = connection
            try:
                yield
            finally:
                self._dry_tx = None
                transaction.rollback()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[DbConnection]:
        if self._dry_tx is not None:
            yield self._dry_tx
        else:
            with self.store.transaction() as tx:
                yield tx

    def _tick(self, stage: Any, side: Side, object_name: str, done: int) -> None:
        if self.progress is not None:
            self.progress(Progress(stage, side.value, object_name, done))

    def _objects(self, side: Side) -> list[str]:
        seen: dict[str, None] = {}
        for pair in self.integration.pairs_in_match_order():
            seen[pair.platform_object if side is Side.PLATFORM else pair.crm_object] = (
                None
            )
        return list(seen)

    def _fields(self, side: Side, object_name: str) -> list[str]:
        names: dict[str, None] = {}
        for pair in self.integration.object_pairs:
            if (
                pair.platform_object if side is Side.PLATFORM else pair.crm_object
            ) != object_name:
                continue
            names[
                pair.platform_match_field
                if side is Side.PLATFORM
                else pair.crm_match_field
            ] = None
            for mapping in pair.mappings:
                names[
                    mapping.platform_field
                    if side is Side.PLATFORM
                    else mapping.crm_field
                ] = None
        # A creation filter may test a field no mapping moves (a lead score, say).
        rule = (
            self.integration.create_in_crm
            if side is Side.PLATFORM
            else self.integration.create_in_platform
        )
        if rule.filter is not None and names:
            names[rule.filter.field] = None
        return list(names)

    def _match_field(self, side: Side, object_name: str) -> str | None:
        for pair in self.integration.object_pairs:
            if side is Side.PLATFORM and pair.platform_object == object_name:
                return pair.platform_match_field
            if side is Side.CRM and pair.crm_object == object_name:
                return pair.crm_match_field
        return None

    def _pair(self, platform_object: str, crm_object: str) -> ObjectPair | None:
        for pair in self.integration.object_pairs:
            if (
                pair.platform_object == platform_object
                and pair.crm_object == crm_object
            ):
                return pair
        return None

    def _creation_pair(
        self, pairs: list[ObjectPair], side: Side, target_object: str | None
    ) -> ObjectPair:
        def other(pair: ObjectPair) -> str:
            return pair.crm_object if side is Side.PLATFORM else pair.platform_object

        for wanted in (target_object, "Lead", "lead"):
            for pair in pairs:
                if wanted and other(pair) == wanted:
                    return pair
        return pairs[-1]

    @staticmethod
    def _other_key(link: LinkRow, side: Side) -> tuple[str, str]:
        if side is Side.PLATFORM:
            return (link.crm_object, link.crm_id)
        return (link.platform_object, link.platform_id)

    @staticmethod
    def _object_of(link: LinkRow, side: Side) -> str:
        return link.platform_object if side is Side.PLATFORM else link.crm_object

    @staticmethod
    def _id_of(link: LinkRow, side: Side) -> str:
        return link.platform_id if side is Side.PLATFORM else link.crm_id

    @staticmethod
    def _set_id(link: LinkRow, side: Side, record_id: str) -> None:
        if side is Side.PLATFORM:
            link.platform_id = record_id
        else:
            link.crm_id = record_id

    @staticmethod
    def _set_modified(link: LinkRow, side: Side, at: dt.datetime) -> None:
        if side is Side.PLATFORM:
            link.platform_modified_at = at
        else:
            link.crm_modified_at = at
