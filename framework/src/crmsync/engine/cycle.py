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
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from sqlalchemy import Connection as DbConnection

from crmsync.contract.models import Capability, ChangedRecord, Cursor, Tombstone
from crmsync.engine._base import LEASE_SECONDS
from crmsync.engine._linking import LinkingMixin
from crmsync.engine._matching import MatchingMixin
from crmsync.engine._pushing import PushingMixin
from crmsync.engine._reconcile import reconcile_links
from crmsync.engine._units import (
    Failure,
    Unit,
    decide_fields,
)
from crmsync.engine._units import _same as same_raw
from crmsync.engine._writes import Pusher, SimulatedPusher, WriteQueue
from crmsync.engine.report import CycleReport
from crmsync.errors import (
    BudgetExhausted,
    CrmsyncError,
    CycleBusy,
    QuotaExhausted,
    StopRequested,
)
from crmsync.logs import redact_text
from crmsync.models import CRM, PLATFORM, ObjectPair, Side
from crmsync.policy import match_key_of
from crmsync.store import InboxRow, LinkRow, dry_run_store

log = structlog.get_logger("crmsync.engine")

_PURGE_FLOOR = 10_000  # decision-log rows a cycle may purge even if it logged none


class SyncEngine(MatchingMixin, LinkingMixin, PushingMixin):
    """Runs cycles of one integration between its platform and CRM connections."""

    def run_cycle(
        self, *, dry_run: bool = False, record_plan: bool = False
    ) -> CycleReport:
        """Run one cycle. A dry run reads and decides but writes nothing anywhere.

        ``record_plan`` keeps every field write and record outcome in the report
        (:meth:`CycleReport.plan`), as a dry run always does: a dry run followed by a
        real run with no edits in between reports the same plan.
        """
        report = self._report = CycleReport(
            self.integration.name, dry_run=dry_run, record_plan=record_plan
        )
        self._in_flight.clear()
        self._costs: dict[str, dict[str, int]] = {}
        self._unsent_creates = set()
        self._deferred_creates = set()
        self._skip_rows.clear()
        self._full_read.clear()
        self._log_decisions = not dry_run and self.settings.decision_log_days > 0
        self._logged_decisions = 0
        self._seen_links.clear()
        self._decision_rows = []
        owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        if not dry_run and not self.store.leases.acquire(
            self.iid, owner, seconds=LEASE_SECONDS
        ):
            raise CycleBusy(
                f"a cycle of {self.integration.name!r} is already running",
                hint="wait for it to finish; a cycle whose process died holds nothing",
            )
        self._lease_owner = None if dry_run else owner
        self._lease_renewed = time.monotonic()
        structlog.contextvars.bind_contextvars(integration=self.integration.name)
        try:
            if not dry_run:
                self._run_id = report.run_id = self.store.history.start_run(
                    self.iid, dry_run=False
                )
            structlog.contextvars.bind_contextvars(
                cycle=self._run_id if not dry_run else "dry-run"
            )
            if dry_run:
                self._dry_run(report)
            else:
                self._run(report)
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
                    self._costs.get(side.value, {})
                )
                for reason, count in connection.stats.waits.items():
                    report.retry_waits[f"{side.value}:{reason}"] = count
            if report.status == "succeeded" and report.errors:
                report.status = "partial"
            if not dry_run:
                self._finish(report, owner)
        return report

    def _dry_run(self, report: CycleReport) -> None:
        """The cycle on a copy of this integration's working state (see
        :func:`~crmsync.store.dry_run_store`), with pushes answered by a simulation:
        every decision the real run would make, and nothing a real cycle waits for."""
        real = self.store
        with dry_run_store(real, self.iid) as shadow:
            self.store = shadow
            try:
                self._run(report)
            finally:
                self.store = real

    def _run(self, report: CycleReport) -> None:
        for connection in self.connections.values():
            # A connection kept between cycles keeps its session and renews it on
            # expiry (AuthenticationExpired); authenticating again would spend a token
            # request on every cycle, idle ones included.
            if not connection.authenticated:
                connection.authenticate()
        started = dt.datetime.now(dt.UTC)
        with self._tx() as tx:
            self.store.inbox.purge_settled(tx, self.iid)  # left by a cycle that died
            self._force_lookup = self.store.pending.any(tx, self.iid)
            self._start_intents(tx)
        # With no open record errors (the usual case) a success has nothing to resolve:
        # skip that UPDATE per batch until this cycle records an error of its own.
        self._open_errors = bool(self.store.history.open_errors(self.iid, limit=1))
        for side in (PLATFORM, CRM):
            for object_name in self._objects(side):
                self._read_feed(side, object_name)
        self._settle_by_deleting = {
            (side.value, object_name)
            for side in (PLATFORM, CRM)
            for object_name in self._objects(side)
            # Matching looks such a side's records up at the vendor (_candidates), so
            # its settled rows are never needed again this cycle.
            if (side, object_name) not in self._full_read
            and Capability.LOOKUP in self.connections[side].description.capabilities
        }
        self._relink_moves()
        self._times = self._measure_times(report)
        queue = WriteQueue(self._flush, self._flush_threshold)
        pusher = (
            SimulatedPusher(self.connections, self.clock)
            if self._report.dry_run
            else Pusher(self.connections)
        )
        self._pusher = pusher
        try:
            try:
                for side in (PLATFORM, CRM):
                    for object_name in self._objects(side):
                        self._settle(side, object_name, queue)
            except StopRequested:
                # Decided writes are pushed and recorded when the cycle is asked to
                # stop: "after the current batch" includes the batch being filled.
                queue.flush_all()
                self._collect(wait=True)
                raise
            queue.flush_all()
            self._collect(wait=True)
        except BaseException:
            if pusher is not None:
                pusher.abandon()
            raise
        finally:
            self._pusher = None
            if pusher is not None:
                pusher.close()
                self._note_unsent(pusher.unsent)
            self._forget_unsent_creates()
        with self._tx() as tx:
            self.store.inbox.purge_settled(tx, self.iid)
            if not self._report.dry_run:
                self._purge_decisions(tx)
            if self._force_lookup:
                # A dead cycle's creates: this cycle read the feed past them and looked
                # their match keys up, so each is linked (or its record parked) by now.
                # Left in place, they would force lookups on every later full read.
                # Those still in doubt stay: their records wait for a later cycle.
                self.store.pending.clear(
                    tx, self.iid, before=started, keep=self._deferred_creates
                )
            self._end_intents(tx, started)

    def _purge_decisions(self, tx: DbConnection) -> None:
        """Drop decision-log rows past the retention, oldest first: at most twice
        what this cycle logged (and a floor), so the purge keeps ahead of the log
        while a cycle's cost stays bound to its own writes."""
        retention = dt.timedelta(days=self.settings.decision_log_days)
        limit = max(_PURGE_FLOOR, 2 * self._logged_decisions)
        self.store.decisions.purge(tx, self.clock() - retention, limit=limit)

    def _forget_unsent_creates(self) -> None:
        """Drop the pending records of creates this cycle never sent (it stopped, ran
        out of quota or lost its lease first): they are not in doubt, so the next
        cycle creates them without waiting."""
        refs, self._unsent_creates = self._unsent_creates, set()
        if not refs:
            return
        try:
            with self._tx() as tx:
                self.store.pending.remove(tx, sorted(refs))
        except Exception as error:  # kept: they only make a later cycle wait
            log.warning("unsent_creates_kept", count=len(refs), error=str(error))

    def _relink_moves(self) -> None:
        """Move the links of converted and merged records to what they became, before
        any record is decided.

        The record a lead became (a contact), or a merge's survivor, is read in the
        same cycle, often before the record that moved (contacts match first), and
        carries its latest values. Its link must be in place when it is decided, or it
        would look linked elsewhere, be dropped, and an edit made around the move would
        never reach the other side. A chain of merges in one cycle (A into B, B into C)
        moves the link to the last survivor.
        """
        for side in (PLATFORM, CRM):
            with self._tx() as tx:
                rows = self.store.inbox.moves(tx, self.iid, side.value)
            survivors = {
                (row.object_name, row.record_id): row.merged_into
                for row in rows
                if row.merged_into
            }
            for row in rows:
                if row.merged_into:
                    target = _last_survivor(survivors, row.object_name, row.merged_into)
                    move = (row.object_name, target, "merged")
                elif side is CRM and row.converted_id is not None:
                    move = (
                        row.converted_object or row.object_name,
                        row.converted_id,
                        "converted",
                    )
                else:
                    continue
                # One at a time: moves are rare, and the next one must see this one
                # (two records merged into one survivor cannot both take its link).
                with self._tx() as tx:
                    links = self.store.links.find(
                        tx, self.iid, side.value, [(row.object_name, row.record_id)]
                    )
                link = links.get((row.object_name, row.record_id))
                if link is None:
                    continue  # unlinked: _settle_chunk drops it; its successor stands
                changes: list[LinkRow] = []
                deletes: list[int] = []
                target_object, target_id, why = move
                self._relink(
                    link, side, target_object, target_id, changes, deletes, why
                )
                with self._tx() as tx:
                    self._store_links(tx, changes, deletes)
                    self._settle_rows(tx, [row])
                self._skip_rows.add(row.id)

    def _read_feed(self, side: Side, object_name: str) -> None:
        structlog.contextvars.bind_contextvars(side=side.value, object=object_name)
        connection = self.connections[side]
        fields = self._fields(side, object_name)
        match_field = self._match_field(side, object_name)
        key_of = match_key_of(match_field) if match_field else None
        with self._tx() as tx:
            saved, read_at = self.store.cursors.get(
                tx, self.iid, side.value, object_name
            )
        start = self._resume_from(
            saved, read_at, late_commit=connection.description.late_commit_seconds
        )
        if saved is None:
            self._full_read.add((side, object_name))
        started = self.clock()
        position, page_token, read = saved, None, 0
        reconciled = False
        # Pages are staged a few at a time, each group with the cursor it reached, in
        # one transaction: the cursor still never passes a change that is not kept
        # (a crash loses only pages not yet committed, and their cursor with them),
        # for one commit per ``chunk_size`` records rather than one per page.
        records: list[ChangedRecord] = []
        tombstones: list[Tombstone] = []
        while True:
            page = connection.fetch_changed(
                object_name,
                fields=fields,
                cursor=start,
                page=page_token,
                page_size=self.page_size,
            )
            if page.deletions_unknown_before is not None and not reconciled:
                # Before this page's cursor is kept, so a sweep cut short is asked for
                # again by the next cycle's read.
                reconciled = True
                reconcile_links(self, side, object_name, page.deletions_unknown_before)
            if position is None or page.cursor.sort_key() >= position.sort_key():
                position = page.cursor
            records.extend(page.records)
            tombstones.extend(page.tombstones)
            for kind, count in page.costs.items():
                costs = self._costs.setdefault(side.value, {})
                costs[kind] = costs.get(kind, 0) + count
            read += len(page.records) + len(page.tombstones)
            last = page.next_page is None
            if (
                last
                or len(records) + len(tombstones) >= self.chunk_size
                or self.should_stop()
            ):
                self._stage_pages(
                    side,
                    object_name,
                    key_of,
                    records,
                    tombstones,
                    position,
                    read_at=started,
                    echoes=saved is not None,
                )
                records, tombstones = [], []
            self._tick("read", side, object_name, read)
            self._check_stop()
            if last:
                break
            page_token = page.next_page
        log.info("feed_read", records=read)

    def _stage_pages(
        self,
        side: Side,
        object_name: str,
        key_of: Callable[[dict[str, Any]], str | None] | None,
        records: list[ChangedRecord],
        tombstones: list[Tombstone],
        position: Cursor,
        *,
        read_at: dt.datetime,
        echoes: bool,
    ) -> None:
        """Stage read pages and move the feed's cursor past them, in one transaction.

        ``echoes``: leave out records that hold their link's baseline (a full read, the
        first or a back-fill, decides every record afresh instead).
        """
        with self._tx() as tx:
            news: Sequence[ChangedRecord] = records
            if echoes and records:
                news = self._without_echoes(tx, side, object_name, records)
            self.store.inbox.stage(
                tx, self.iid, side.value, object_name, news, tombstones, key_of
            )
            self.store.cursors.save(
                tx, self.iid, side.value, object_name, position, read_at=read_at
            )
        counts = self._report.side(side.value)
        counts.read += len(records)
        counts.unchanged += len(records) - len(news)
        counts.deleted += len(tombstones)

    def _without_echoes(
        self,
        tx: DbConnection,
        side: Side,
        object_name: str,
        records: Sequence[ChangedRecord],
    ) -> Sequence[ChangedRecord]:
        """``records`` less those that hold exactly their link's baseline.

        Such a record is crmsync's own write read back (or a re-read of the overlap
        window): every mapped field already agrees with the pair's last decision, so
        there is nothing to stage or decide, and its link already holds what the write
        answered. One indexed read of the page's links decides it; any doubt (no link,
        a field the baseline lacks, a value of another type, a conversion) stages it.
        """
        links = self.store.links.find(
            tx, self.iid, side.value, [(object_name, r.record_id) for r in records]
        )
        if not links:
            return records
        at = 0 if side is PLATFORM else 1
        news = []
        staged: dict[tuple[str, str], LinkRow] = {}
        for record in records:
            key = (object_name, record.record_id)
            link = links.get(key)
            if link is None or record.converted_to is not None:
                news.append(record)
                continue
            pair = self._pair(link.platform_object, link.crm_object)
            if pair is None or not _holds_baseline(pair, side, at, record, link):
                news.append(record)
                staged[key] = link
        # Deciding these records needs the same links: kept, not read again.
        self._seen_links.remember(side.value, staged)
        return news

    def _resume_from(
        self,
        saved: Cursor | None,
        read_at: dt.datetime | None,
        *,
        late_commit: float = 0.0,
    ) -> Cursor | None:
        """Where the next read starts: the saved position, or the overlap window before
        it.

        A record committed late can carry a modification time earlier than records the
        last read already saw. Only records stamped within ``overlap_seconds`` (or the
        connector's ``late_commit_seconds``, if longer) before that read started can be
        such, so only that window is read again; a feed whose
        last record is older than the window resumes exactly where it stopped (an idle
        cycle reads nothing).
        """
        # The operator's window, never shorter than the vendor's own late-commit window.
        overlap = dt.timedelta(seconds=max(self.settings.overlap_seconds, late_commit))
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
                rows = self.store.inbox.chunk(
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
            self._collect()  # apply pushes that answered while this chunk was decided
            done += len(rows)
            self._tick("decide", side, object_name, done)
            self._check_stop()

    def _check_stop(self) -> None:
        self._hold_lease()
        if self.should_stop():
            raise StopRequested()

    def _settle_chunk(
        self, side: Side, object_name: str, rows: list[InboxRow], queue: WriteQueue
    ) -> None:
        other = side.other
        with self._tx() as tx:
            links, unseen = self._seen_links.take(
                side.value, [(row.object_name, row.record_id) for row in rows]
            )
            if unseen:
                links.update(self.store.links.find(tx, self.iid, side.value, unseen))
            counterpart_keys = [self._other_key(link, side) for link in links.values()]
            counterparts = {
                (row.object_name, row.record_id): row
                for row in self.store.inbox.for_records(
                    tx, self.iid, other.value, counterpart_keys
                )
                if row.id not in self._skip_rows
                and (row.side, row.object_name, row.record_id) not in self._in_flight
            }
        units: list[Unit] = []
        done_rows: list[InboxRow] = []
        link_changes: list[LinkRow] = []
        link_deletes: list[int] = []
        failures: list[Failure] = []
        unlinked: list[InboxRow] = []
        for row in rows:
            link = links.get((row.object_name, row.record_id))
            if row.kind == "tombstone":
                done_rows.append(row)
                if link is not None:
                    self._on_tombstone(row, link, side, link_changes, link_deletes)
                continue
            if link is None:
                if row.converted_id is not None and side is CRM:
                    # A lead converted before it was ever linked: the record it became
                    # is matched or created in its place, never both.
                    done_rows.append(row)
                    continue
                unlinked.append(row)
                continue
            if row.converted_id is not None and side is CRM:
                done_rows.append(row)
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
                done_rows.append(row)
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
            if self._intents_left:  # a cycle died between writes and their baselines
                other_values = counterpart.values if counterpart else None
                self._adopt_intents(
                    unit,
                    *(
                        (row.values, other_values)
                        if side is PLATFORM
                        else (other_values, row.values)
                    ),
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
        resolved: list[tuple[str, str, str]] = []
        failed: list[Unit] = []
        for unit in settled:
            if unit.failures:
                failures.extend(unit.failures)
                failed.append(unit)
            else:
                done_rows.extend(unit.rows)
                if self._open_errors:  # a record that failed before may agree now
                    resolved.extend(unit.record_key(side) for side in (PLATFORM, CRM))
            if not unit.unchanged:
                link_changes.append(unit.link)
        with self._tx() as tx:
            for unit in failed:
                self._fail_rows(tx, unit, retryable=False)
            self._store_links(tx, link_changes, link_deletes)
            self._settle_rows(tx, done_rows)
            self._record_failures(tx, failures)
            if resolved:
                self.store.history.resolve_failures(tx, self.iid, resolved)
            # One insert for the chunk's creates, not one transaction per create.
            self.store.pending.add(
                tx,
                self.iid,
                [self._pending_create(u) for u in writing if u.creates is not None],
            )
            # And one for its updates' intents, before any of them can be pushed.
            self._record_intents(tx, writing)
        self._unsent_creates.update(
            u.ref for u in writing if u.creates is not None and u.ref
        )
        for unit in settled:
            self._release(unit)
        for unit in writing:
            self._enqueue(unit, queue)

    def _decide(
        self, unit: Unit, side: Side, row: InboxRow, counterpart: InboxRow | None
    ) -> None:
        link = unit.link
        unit.seen_before = (link.platform_modified_at, link.crm_modified_at)
        own_values, own_at = row.values, row.modified_at
        other_values = counterpart.values if counterpart is not None else None
        other_at = (
            counterpart.modified_at
            if counterpart is not None
            else (
                link.crm_modified_at if side is PLATFORM else link.platform_modified_at
            )
        )
        args: tuple[Any, ...]
        if side is PLATFORM:
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
        decide_fields(
            unit,
            self.integration,
            *args,
            decisions=report.decisions,
            planned=report.planned if report.record_plan else None,
            times=self._times,
        )

    def _finish(self, report: CycleReport, owner: str) -> None:
        try:
            if (
                report.status != "failed"
                and self.integration.source_of_truth_locked_at is None
            ):
                with self._tx() as tx:
                    self.store.config.lock_source_of_truth(
                        tx, self.iid, dt.datetime.now(dt.UTC)
                    )
            if self._run_id is not None:
                self.store.history.finish_run(
                    self._run_id,
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


def _holds_baseline(
    pair: ObjectPair, side: Side, at: int, record: ChangedRecord, link: LinkRow
) -> bool:
    """Whether every mapped field of ``record`` is its ``side``'s baseline value."""
    baseline = link.baseline
    values = record.values
    for mapping in pair.mappings:
        base = baseline.get(mapping.key)
        if base is None:
            return False
        name = mapping.platform_field if side is PLATFORM else mapping.crm_field
        if not same_raw(values.get(name), base[at]):
            return False
    return True


def _last_survivor(
    survivors: dict[tuple[str, str], str], object_name: str, record_id: str
) -> str:
    """Follow merges read in one cycle (A into B, B into C) to the one that stands."""
    seen = {record_id}
    while (object_name, record_id) in survivors:
        record_id = survivors[(object_name, record_id)]
        if record_id in seen:  # a loop no vendor should report: stop where it closes
            break
        seen.add(record_id)
    return record_id
