"""Reading the change feeds: pages staged in the inbox with their cursor, echoes of
crmsync's own writes left out, lost deletions reconciled.

Phase 1 of a cycle (see :mod:`.cycle`): each page group is staged in the same
transaction that moves its feed's cursor, so the cursor never passes a change that is
not durably kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from sqlalchemy import Connection as DbConnection

from crmsync.contract.models import ChangedRecord, Cursor, Tombstone
from crmsync.engine._context import CycleContext
from crmsync.engine._reconcile import reconcile_links
from crmsync.engine._units import _same as same_raw
from crmsync.models import CRM, PLATFORM, ObjectPair, Side
from crmsync.policy import match_key_of
from crmsync.store import LinkRow

log = structlog.get_logger("crmsync.engine")


class FeedReader:
    """Reads each feed of a cycle into the inbox, from where it stopped."""

    def __init__(self, ctx: CycleContext) -> None:
        self.ctx = ctx

    def read(self, side: Side, object_name: str) -> None:
        """Read ``side``'s feed of ``object_name`` from its saved cursor into the inbox
        (see :mod:`.cycle`, phase 1)."""
        ctx = self.ctx
        structlog.contextvars.bind_contextvars(side=side.value, object=object_name)
        connection = ctx.connections[side]
        fields = ctx.fields(side, object_name)
        match_field = self._match_field(side, object_name)
        key_of = match_key_of(match_field) if match_field else None
        with ctx.tx() as tx:
            saved, read_at = ctx.store.cursors.get(tx, ctx.iid, side.value, object_name)
        start = self._resume_from(
            saved, read_at, late_commit=connection.description.late_commit_seconds
        )
        if saved is None:
            ctx.full_read.add((side, object_name))
        started = ctx.clock()
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
                page_size=ctx.page_size,
            )
            if page.deletions_unknown_before is not None and not reconciled:
                # Before this page's cursor is kept, so a sweep cut short is asked for
                # again by the next cycle's read.
                reconciled = True
                reconcile_links(ctx, side, object_name, page.deletions_unknown_before)
            if position is None or page.cursor.sort_key() >= position.sort_key():
                position = page.cursor
            records.extend(page.records)
            tombstones.extend(page.tombstones)
            for kind, count in page.costs.items():
                costs = ctx.costs.setdefault(side.value, {})
                costs[kind] = costs.get(kind, 0) + count
            read += len(page.records) + len(page.tombstones)
            last = page.next_page is None
            if (
                last
                or len(records) + len(tombstones) >= ctx.chunk_size
                or ctx.should_stop()
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
            ctx.tick("read", side, object_name, read)
            ctx.check_stop()
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
        ctx = self.ctx
        with ctx.tx() as tx:
            news: Sequence[ChangedRecord] = records
            if echoes and records:
                news = self._without_echoes(tx, side, object_name, records)
            ctx.store.inbox.stage(
                tx, ctx.iid, side.value, object_name, news, tombstones, key_of
            )
            ctx.store.cursors.save(
                tx, ctx.iid, side.value, object_name, position, read_at=read_at
            )
        counts = ctx.report.side(side.value)
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
        ctx = self.ctx
        links = ctx.store.links.find(
            tx, ctx.iid, side.value, [(object_name, r.record_id) for r in records]
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
            pair = ctx.pair(link.platform_object, link.crm_object)
            if pair is None or not _holds_baseline(pair, side, at, record, link):
                news.append(record)
                staged[key] = link
        # Deciding these records needs the same links: kept, not read again.
        ctx.seen_links.remember(side.value, staged)
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
        ctx = self.ctx
        # The operator's window, never shorter than the vendor's own late-commit window.
        overlap = dt.timedelta(seconds=max(ctx.settings.overlap_seconds, late_commit))
        if saved is None or saved.modified_at is None or not overlap:
            return saved
        window_start = (read_at or saved.modified_at) - overlap
        if saved.modified_at < window_start:
            return saved
        return Cursor(modified_at=window_start, token=saved.token)

    def _match_field(self, side: Side, object_name: str) -> str | None:
        for pair in self.ctx.integration.object_pairs:
            if side is PLATFORM and pair.platform_object == object_name:
                return pair.platform_match_field
            if side is CRM and pair.crm_object == object_name:
                return pair.crm_match_field
        return None


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
