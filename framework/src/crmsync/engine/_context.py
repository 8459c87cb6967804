"""One cycle's shared state: what every collaborator of a cycle reads and updates.

:class:`~crmsync.engine.SyncEngine` builds a :class:`CycleContext` at the start of each
cycle and hands it to the collaborators it holds (the feed reader, the linker, the
matcher, the settler, the writer...). Each collaborator keeps no state of its own: what
one part of the cycle leaves for another (rows to skip, records in flight, creates not
yet sent) is a named field here, not an attribute reached across classes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection as DbConnection

from crmsync.engine._seen import SeenLinks
from crmsync.engine._units import Unit
from crmsync.engine._writes import Pusher
from crmsync.engine.report import CycleReport, Progress
from crmsync.errors import StateError, StopRequested
from crmsync.models import PLATFORM, Integration, ObjectPair, Side
from crmsync.plugins import Connection
from crmsync.policy.rules import TimeComparison
from crmsync.settings import CrmsyncSettings
from crmsync.store import FieldWrite, LinkRow, StateStore

LEASE_SECONDS = 3600  # a cycle's lease; renewed while it runs
LEASE_RENEW_SECONDS = 60

RecordKey = tuple[str, str, str]  # (side, object, record id)
IntentKey = RecordKey  # (side written, object, record id)


@dataclass(slots=True, eq=False)
class CycleContext:
    """What one cycle shares: its store, connections and settings, its report, and the
    sets its parts leave for each other."""

    store: StateStore  # a dry run's is its own copy (see dry_run_store)
    integration: Integration
    iid: int  # the integration's id (a stored integration)
    connections: dict[Side, Connection]
    settings: CrmsyncSettings
    report: CycleReport
    clock: Callable[[], dt.datetime]
    # Asked between pages and chunks (Ctrl-C in `crmsync sync`): the cycle stops after
    # the current batch with everything read or written so far kept.
    should_stop: Callable[[], bool]
    progress: Callable[[Progress], None] | None = None
    chunk_size: int = 1000
    page_size: int | None = None
    max_attempts: int = 8
    run_id: int | None = None
    # The cycle's lease: renewed as the cycle goes, checked before every push (none for
    # a dry run).
    lease_owner: str | None = None
    lease_renewed: float = 0.0  # time.monotonic() of the last renewal

    # -- what the parts of the cycle leave for each other
    # Records claimed by a unit not settled yet: (side, object, record id).
    in_flight: set[RecordKey] = field(default_factory=set)
    # Inbox rows this cycle is done with for now (failed, parked, deferred, relinked).
    skip_rows: set[int] = field(default_factory=set)
    # Feeds read from the start (no saved cursor): every record of theirs is staged.
    full_read: set[tuple[Side, str]] = field(default_factory=set)
    # (side, object) feeds whose settled rows are deleted at once (Bookkeeper).
    settle_by_deleting: set[tuple[str, str]] = field(default_factory=set)
    # A dead cycle left pending creates: matching looks their targets up.
    force_lookup: bool = False
    # Whether record errors may be open (then a success resolves its record's).
    open_errors: bool = True
    # How the two sides' times compare; measured once the feeds are read.
    times: TimeComparison | None = None
    # API calls the feeds' pages reported beyond the connection's own count.
    costs: dict[str, dict[str, int]] = field(default_factory=dict)
    # Links the feed reads looked up, kept for deciding the records they staged.
    seen_links: SeenLinks = field(default_factory=SeenLinks)
    # Refs of creates recorded pending this cycle but not (yet) handed to the pusher.
    unsent_creates: set[str] = field(default_factory=set)
    # (target side, source object, source id) of creates left in doubt this cycle.
    deferred_creates: set[RecordKey] = field(default_factory=set)
    # Whether this cycle logs its field writes (a real run, with a retention), and how
    # many it logged: the end-of-cycle purge may drop twice that many.
    log_decisions: bool = False
    logged_decisions: int = 0
    # Fields the vendor accepted, logged with the next applied batch.
    decision_rows: list[FieldWrite] = field(default_factory=list)
    # Intents an earlier cycle left (it died between a write and its baseline), read at
    # this cycle's start: the records to compare with them.
    intents_left: dict[IntentKey, list[dict[str, Any]]] = field(default_factory=dict)
    # This cycle's intent rows: id -> [units whose answers are not all applied yet,
    # whether one answer was lost (then the row stays: the vendor may carry it out)].
    intent_rows: dict[int, list[Any]] = field(default_factory=dict)
    intent_row_of: dict[int, tuple[Unit, int]] = field(default_factory=dict)
    # The pusher, while a cycle settles (a simulated one for a dry run).
    pusher: Pusher | None = None
    _pairs_index: (
        tuple[Sequence[ObjectPair], dict[tuple[str, str], ObjectPair]] | None
    ) = None

    @contextlib.contextmanager
    def tx(self) -> Iterator[DbConnection]:
        """One transaction of the cycle's store (a dry run's copy: the same
        statements)."""
        with self.store.database.transaction() as tx:
            yield tx

    def hold_lease(self, *, before_push: bool = False) -> None:
        """Renew the cycle's lease, and stop if another process holds it now.

        A cycle stalled past its lease (a suspended process, a vendor hanging for an
        hour) may find that another process has run a cycle in the meantime: pushing
        on would repeat that cycle's creates. Renewed at most once a minute between
        pages and chunks; before a push, always checked.
        """
        owner = self.lease_owner
        if owner is None:  # a dry run takes no lease
            return
        now = time.monotonic()
        if not before_push and now - self.lease_renewed < LEASE_RENEW_SECONDS:
            return
        if not self.store.leases.acquire(self.iid, owner, seconds=LEASE_SECONDS):
            self.lease_owner = None  # not ours to release any more
            raise StateError(
                f"cycle of {self.integration.name!r} lost its lease to another "
                "process (it stalled past the lease); it stops, and nothing it "
                "decided but did not push is lost",
                hint="the other process's cycle carries on from the same state",
            )
        self.lease_renewed = now

    def check_stop(self) -> None:
        """Between pages and chunks: hold the lease, and stop if asked to."""
        self.hold_lease()
        if self.should_stop():
            raise StopRequested()

    def tick(self, stage: Any, side: Side, object_name: str, done: int) -> None:
        if self.progress is not None:
            self.progress(Progress(stage, side.value, object_name, done))

    def objects(self, side: Side) -> list[str]:
        """``side``'s objects, in the pairs' match order."""
        seen: dict[str, None] = {}
        for pair in self.integration.pairs_in_match_order():
            seen[pair.platform_object if side is PLATFORM else pair.crm_object] = None
        return list(seen)

    def fields(self, side: Side, object_name: str) -> list[str]:
        """The fields of ``object_name`` the cycle reads: match keys, mapped fields,
        and what a creation filter tests."""
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

    def pair(self, platform_object: str, crm_object: str) -> ObjectPair | None:
        # Asked once per changed record: a dict, rebuilt if the pairs were replaced.
        pairs = self.integration.object_pairs
        index = self._pairs_index
        if index is None or index[0] is not pairs:
            by_objects: dict[tuple[str, str], ObjectPair] = {}
            for pair in pairs:
                by_objects.setdefault((pair.platform_object, pair.crm_object), pair)
            index = self._pairs_index = (pairs, by_objects)
        return index[1].get((platform_object, crm_object))


# -- a link's two ends, by side


def other_key(link: LinkRow, side: Side) -> tuple[str, str]:
    """The (object, id) of the record ``link`` pairs with ``side``'s."""
    if side is PLATFORM:
        return (link.crm_object, link.crm_id)
    return (link.platform_object, link.platform_id)


def object_of(link: LinkRow, side: Side) -> str:
    return link.platform_object if side is PLATFORM else link.crm_object


def id_of(link: LinkRow, side: Side) -> str:
    return link.platform_id if side is PLATFORM else link.crm_id


def set_id(link: LinkRow, side: Side, record_id: str) -> None:
    if side is PLATFORM:
        link.platform_id = record_id
    else:
        link.crm_id = record_id
