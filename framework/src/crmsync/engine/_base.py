"""The engine's state and the small helpers every part of a cycle uses."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import structlog
from sqlalchemy import Connection as DbConnection

from crmsync.engine._seen import SeenLinks
from crmsync.engine._units import (
    Failure,
    Unit,
)
from crmsync.engine._writes import Pusher
from crmsync.engine.report import CycleReport, Progress, RecordOutcome
from crmsync.errors import CrmsyncError, StateError
from crmsync.models import CRM, PLATFORM, Integration, ObjectPair, Side
from crmsync.plugins import Connection
from crmsync.policy.rules import TimeComparison
from crmsync.settings import CrmsyncSettings
from crmsync.store import FieldWrite, InboxRow, LinkRow, StateStore

log = structlog.get_logger("crmsync.engine")


LEASE_SECONDS = 3600  # a cycle's lease; renewed while it runs
LEASE_RENEW_SECONDS = 60


class EngineBase:
    """State shared by the parts of :class:`~crmsync.engine.SyncEngine`."""

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
        self._report = CycleReport(integration.name)
        self._in_flight: set[tuple[str, str, str]] = set()
        self._skip_rows: set[int] = set()
        self._full_read: set[tuple[Side, str]] = set()
        self._force_lookup = False
        self._open_errors = True
        self._run_id: int | None = None
        # Whether this cycle logs its field writes (a real run, with a retention), and
        # how many it logged: the end-of-cycle purge may drop twice that many.
        self._log_decisions = False
        self._logged_decisions = 0
        # Fields the vendor accepted, logged with the next applied batch.
        self._decision_rows: list[FieldWrite] = []
        # The cycle's lease: renewed as the cycle goes, checked before every push.
        self._lease_owner: str | None = None
        self._lease_renewed = 0.0  # time.monotonic() of the last renewal
        self._pusher: Pusher | None = None  # set while a (non-dry) cycle settles
        # (side, object) feeds whose settled rows are deleted at once (_settle_rows).
        self._settle_by_deleting: set[tuple[str, str]] = set()
        self._pairs_index: (
            tuple[Sequence[ObjectPair], dict[tuple[str, str], ObjectPair]] | None
        ) = None
        # Links the feed reads looked up, kept for deciding the records they staged.
        self._seen_links = SeenLinks()

    def _hold_lease(self, *, before_push: bool = False) -> None:
        """Renew the cycle's lease, and stop if another process holds it now.

        A cycle stalled past its lease (a suspended process, a vendor hanging for an
        hour) may find that another process has run a cycle in the meantime: pushing
        on would repeat that cycle's creates. Renewed at most once a minute between
        pages and chunks; before a push, always checked.
        """
        owner = self._lease_owner
        if owner is None:  # a dry run takes no lease
            return
        now = time.monotonic()
        if not before_push and now - self._lease_renewed < LEASE_RENEW_SECONDS:
            return
        if not self.store.leases.acquire(self.iid, owner, seconds=LEASE_SECONDS):
            self._lease_owner = None  # not ours to release any more
            raise StateError(
                f"cycle of {self.integration.name!r} lost its lease to another "
                "process (it stalled past the lease); it stops, and nothing it "
                "decided but did not push is lost",
                hint="the other process's cycle carries on from the same state",
            )
        self._lease_renewed = now

    @contextlib.contextmanager
    def _tx(self) -> Iterator[DbConnection]:
        # A dry run's store is its own copy (SyncEngine._dry_run): the same statements.
        with self.store.database.transaction() as tx:
            yield tx

    # Refs of creates recorded pending this cycle but not (yet) handed to the pusher.
    _unsent_creates: set[str]
    # (target side, source object, source id) of creates left in doubt this cycle.
    _deferred_creates: set[tuple[str, str, str]]
    # How the two sides' times compare in this cycle; measured once the feeds are read.
    _times: TimeComparison | None = None

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

    def _tick(self, stage: Any, side: Side, object_name: str, done: int) -> None:
        if self.progress is not None:
            self.progress(Progress(stage, side.value, object_name, done))

    def _objects(self, side: Side) -> list[str]:
        seen: dict[str, None] = {}
        for pair in self.integration.pairs_in_match_order():
            seen[pair.platform_object if side is PLATFORM else pair.crm_object] = None
        return list(seen)

    def _fields(self, side: Side, object_name: str) -> list[str]:
        names: dict[str, None] = {}
        for pair in self.integration.object_pairs:
            if (
                pair.platform_object if side is PLATFORM else pair.crm_object
            ) != object_name:
                continue
            names[
                pair.platform_match_field if side is PLATFORM else pair.crm_match_field
            ] = None
            for mapping in pair.mappings:
                names[
                    mapping.platform_field if side is PLATFORM else mapping.crm_field
                ] = None
        # A creation filter may test a field no mapping moves (a lead score, say).
        rule = (
            self.integration.create_in_crm
            if side is PLATFORM
            else self.integration.create_in_platform
        )
        if rule.filter is not None and names:
            for name in rule.filter.fields():
                names[name] = None
        return list(names)

    def _match_field(self, side: Side, object_name: str) -> str | None:
        for pair in self.integration.object_pairs:
            if side is PLATFORM and pair.platform_object == object_name:
                return pair.platform_match_field
            if side is CRM and pair.crm_object == object_name:
                return pair.crm_match_field
        return None

    def _pair(self, platform_object: str, crm_object: str) -> ObjectPair | None:
        # Asked once per changed record: a dict, rebuilt if the pairs were replaced.
        pairs = self.integration.object_pairs
        index = self._pairs_index
        if index is None or index[0] is not pairs:
            by_objects: dict[tuple[str, str], ObjectPair] = {}
            for pair in pairs:
                by_objects.setdefault((pair.platform_object, pair.crm_object), pair)
            index = self._pairs_index = (pairs, by_objects)
        return index[1].get((platform_object, crm_object))

    @staticmethod
    def _other_key(link: LinkRow, side: Side) -> tuple[str, str]:
        if side is PLATFORM:
            return (link.crm_object, link.crm_id)
        return (link.platform_object, link.platform_id)

    @staticmethod
    def _object_of(link: LinkRow, side: Side) -> str:
        return link.platform_object if side is PLATFORM else link.crm_object

    @staticmethod
    def _id_of(link: LinkRow, side: Side) -> str:
        return link.platform_id if side is PLATFORM else link.crm_id

    @staticmethod
    def _set_id(link: LinkRow, side: Side, record_id: str) -> None:
        if side is PLATFORM:
            link.platform_id = record_id
        else:
            link.crm_id = record_id

    @staticmethod
    def _set_modified(link: LinkRow, side: Side, at: dt.datetime) -> None:
        if side is PLATFORM:
            link.platform_modified_at = at
        else:
            link.crm_modified_at = at

    def _store_links(
        self, tx: DbConnection, changes: list[LinkRow], deletes: list[int]
    ) -> None:
        """Store changed links and remove deleted ones (every link write of a cycle)."""
        self.store.links.upsert(tx, self.iid, changes)
        self.store.links.delete(tx, deletes)
        self._seen_links.written(link.id for link in changes)
        self._seen_links.written(deletes)

    def _fail_rows(self, tx: DbConnection, unit: Unit, *, retryable: bool) -> None:
        ids = [row.id for row in unit.rows if row.id > 0]
        self._skip_rows.update(ids)
        if not ids:
            return
        message = "; ".join(f"{f.code}: {f.message}" for f in unit.failures)[:2000]
        self.store.inbox.fail(
            tx, ids, message, park=not retryable, max_attempts=self.max_attempts
        )

    def _park(self, tx: DbConnection, row: InboxRow, why: str) -> None:
        self._skip_rows.add(row.id)
        self.store.inbox.fail(tx, [row.id], why, park=True, max_attempts=1)

    def _record_failures(self, tx: DbConnection, failures: list[Failure]) -> None:
        if not failures:
            return
        if self._report.record_plan:
            self._report.outcomes.extend(
                RecordOutcome(
                    "error", f.object_name, f.record_id, detail=f"{f.side}:{f.code}"
                )
                for f in failures
            )
        self._open_errors = True
        self.store.history.record_failures(
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

    def _settle_rows(self, tx: DbConnection, rows: list[InboxRow]) -> None:
        """Done with these inbox rows: delete them, or mark them settled for now.

        A settled row stays until the cycle ends only so that later rows can still find
        its record by match key (and see it linked, not create it twice). Where matching
        asks the vendor anyway (the feed was read from a cursor and the connector looks
        records up), the row has no such use and is deleted at once: one write less per
        changed record.
        """
        drop = self._settle_by_deleting
        deleted = [r.id for r in rows if r.id > 0 and (r.side, r.object_name) in drop]
        settled = [
            r.id for r in rows if r.id > 0 and (r.side, r.object_name) not in drop
        ]
        self.store.inbox.delete(tx, deleted)
        self.store.inbox.settle(tx, settled)

    def _release(self, unit: Unit) -> None:
        """The unit's records are settled (or failed): others may claim them again."""
        in_flight = self._in_flight
        for row in unit.rows:
            in_flight.discard((row.side, row.object_name, row.record_id))
        link = unit.link
        in_flight.discard(("platform", link.platform_object, link.platform_id))
        in_flight.discard(("crm", link.crm_object, link.crm_id))
