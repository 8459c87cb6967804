"""Settling the inbox: each changed record finds its pair, and the policy decides.

Phase 2 of a cycle (see :mod:`.cycle`): inbox rows are taken in chunks; each row finds
its link (or the :class:`~._linking.Linker` moves or removes it, or the
:class:`~._matching.Matcher` matches or creates its pair), the policy decides field by
field (:func:`~._units.decide_fields`), and the writes go to the
:class:`~._pushing.Writer`'s queue. What writes nothing is settled in one transaction
per chunk.
"""

from __future__ import annotations

from typing import Any

import structlog

from crmsync.engine._books import Bookkeeper
from crmsync.engine._context import CycleContext, other_key
from crmsync.engine._intents import Intents
from crmsync.engine._linking import Linker
from crmsync.engine._matching import Matcher
from crmsync.engine._pushing import Writer
from crmsync.engine._units import Failure, Unit, decide_fields
from crmsync.engine._writes import WriteQueue
from crmsync.models import CRM, PLATFORM, Side
from crmsync.store import InboxRow, LinkRow


class Settler:
    """Settles a cycle's inbox rows, chunk by chunk."""

    def __init__(self, ctx: CycleContext) -> None:
        self.ctx = ctx
        self.books = Bookkeeper(ctx)
        self.intents = Intents(ctx)
        self.linker = Linker(ctx)
        self.matcher = Matcher(ctx)
        self.writer = Writer(ctx)

    def settle(self, side: Side, object_name: str, queue: WriteQueue) -> None:
        """Settle ``side``'s inbox rows of ``object_name``, a chunk at a time (see
        :mod:`.cycle`, phase 2)."""
        ctx = self.ctx
        skip_rows, in_flight = ctx.skip_rows, ctx.in_flight
        structlog.contextvars.bind_contextvars(side=side.value, object=object_name)
        after, done = 0, 0
        while True:
            with ctx.tx() as tx:
                rows = ctx.store.inbox.chunk(
                    tx, ctx.iid, side.value, object_name, after, ctx.chunk_size
                )
            if not rows:
                break
            after = rows[-1].id
            rows = [
                row
                for row in rows
                if row.id not in skip_rows
                and (row.side, row.object_name, row.record_id) not in in_flight
            ]
            self.settle_chunk(side, object_name, rows, queue)
            # Apply the pushes that answered while this chunk was decided.
            self.writer.collect()
            done += len(rows)
            ctx.tick("decide", side, object_name, done)
            ctx.check_stop()

    def settle_chunk(
        self, side: Side, object_name: str, rows: list[InboxRow], queue: WriteQueue
    ) -> None:
        """Decide one chunk of rows: links found, moved or removed, matches made,
        fields decided; what writes nothing is settled now, the rest is queued."""
        ctx, books, writer = self.ctx, self.books, self.writer
        skip_rows, in_flight = ctx.skip_rows, ctx.in_flight
        other = side.other
        with ctx.tx() as tx:
            links, unseen = ctx.seen_links.take(
                side.value, [(row.object_name, row.record_id) for row in rows]
            )
            if unseen:
                links.update(ctx.store.links.find(tx, ctx.iid, side.value, unseen))
            counterpart_keys = [other_key(link, side) for link in links.values()]
            counterparts = {
                (row.object_name, row.record_id): row
                for row in ctx.store.inbox.for_records(
                    tx, ctx.iid, other.value, counterpart_keys
                )
                if row.id not in skip_rows
                and (row.side, row.object_name, row.record_id) not in in_flight
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
                    self.linker.on_tombstone(
                        row, link, side, link_changes, link_deletes
                    )
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
                self.linker.relink(
                    link,
                    side,
                    row.converted_object or row.object_name,
                    row.converted_id,
                    link_changes,
                    link_deletes,
                    "converted",
                )
                continue
            pair = ctx.pair(link.platform_object, link.crm_object)
            if pair is None:
                done_rows.append(row)
                continue
            counterpart = counterparts.get(other_key(link, side))
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
            if ctx.intents_left:  # a cycle died between writes and their baselines
                other_values = counterpart.values if counterpart else None
                self.intents.adopt(
                    unit,
                    *(
                        (row.values, other_values)
                        if side is PLATFORM
                        else (other_values, row.values)
                    ),
                )
            self.decide(unit, side, row, counterpart)
            units.append(unit)
        if unlinked:
            with ctx.tx() as tx:
                units.extend(
                    self.matcher.match_or_create(
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
                if ctx.open_errors:  # a record that failed before may agree now
                    resolved.extend(unit.record_key(side) for side in (PLATFORM, CRM))
            if not unit.unchanged:
                link_changes.append(unit.link)
        with ctx.tx() as tx:
            for unit in failed:
                books.fail_rows(tx, unit, retryable=False)
            books.store_links(tx, link_changes, link_deletes)
            books.settle_rows(tx, done_rows)
            books.record_failures(tx, failures)
            if resolved:
                ctx.store.history.resolve_failures(tx, ctx.iid, resolved)
            # One insert for the chunk's creates, not one transaction per create.
            ctx.store.pending.add(
                tx,
                ctx.iid,
                [writer.pending_create(u) for u in writing if u.creates is not None],
            )
            # And one for its updates' intents, before any of them can be pushed.
            self.intents.record(tx, writing)
        ctx.unsent_creates.update(
            u.ref for u in writing if u.creates is not None and u.ref
        )
        for unit in settled:
            books.release(unit)
        for unit in writing:
            writer.enqueue(unit, queue)

    def decide(
        self, unit: Unit, side: Side, row: InboxRow, counterpart: InboxRow | None
    ) -> None:
        """Decide ``unit``'s fields from ``row`` and its counterpart (or the link's
        last-known time of the other side)."""
        ctx = self.ctx
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
        report = ctx.report
        decide_fields(
            unit,
            ctx.integration,
            *args,
            decisions=report.decisions,
            planned=report.planned if report.record_plan else None,
            times=ctx.times,
        )
