"""What the engine keeps between and during cycles: cursors, the inbox, links, pending
creates.

Every method takes the transaction (``tx``) it runs in, so the engine decides what
commits together: a page staged with its cursor, a batch's results with its links and
errors. All reads are by key (record ids, match keys) in batches: nothing here scans
every link.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select, update

from crmsync.contract.models import ChangedRecord, Cursor, Tombstone
from crmsync.store._base import StoreBase
from crmsync.store._schema import (
    cursors,
    dumps,
    inbox,
    links,
    loads,
    pending_creates,
)

_IN_CHUNK = 500  # ids per IN (...) clause: well under SQLite's and PostgreSQL's limits
_STAMPS_KEPT = 20_000  # remembered timestamp texts (a few chunks' worth; ~4 MB)


@dataclass(slots=True)
class InboxRow:
    id: int
    side: str
    object_name: str
    record_id: str
    modified_at: dt.datetime
    kind: str
    values: dict[str, Any]
    match_key: str | None
    converted_object: str | None
    converted_id: str | None
    merged_into: str | None
    attempts: int
    parked: bool


@dataclass(slots=True)
class LinkRow:
    id: int | None
    platform_object: str
    platform_id: str
    crm_object: str
    crm_id: str
    baseline: dict[str, list[Any]]
    platform_modified_at: dt.datetime | None
    crm_modified_at: dt.datetime | None
    # (platform object, platform id, crm object, crm id) as read from the store: when an
    # update keeps them, it rewrites neither unique index (half the cost of an update).
    stored_identity: tuple[str, str, str, str] | None = None

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.platform_object, self.platform_id, self.crm_object, self.crm_id)


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _by_object(keys: Sequence[tuple[str, str]]) -> Iterable[tuple[str, Sequence[str]]]:
    """(object, ids) chunks of (object, id) keys.

    ``object = ? AND id IN (...)`` is a range of the (integration, object, id) unique
    index; SQLite answers a row-value ``(object, id) IN (VALUES ...)`` by scanning every
    row of the integration instead, which made each chunk cost O(links).
    """
    ids: dict[str, list[str]] = {}
    for object_name, record_id in keys:
        ids.setdefault(object_name, []).append(record_id)
    for object_name, record_ids in ids.items():
        for chunk in _chunks(record_ids):
            yield object_name, chunk


def _loads(raw: Any) -> dict[str, Any]:
    """A JSON column read through the driver: text on SQLite, decoded on PostgreSQL."""
    if type(raw) is str or isinstance(raw, str | bytes):
        decoded: dict[str, Any] = loads(raw)
        return decoded
    if raw is None:
        return {}
    return dict(raw)


# The inbox's columns in the order ``_inbox_rows`` reads them.
_INBOX_COLUMNS = (
    "id, side, object_name, record_id, modified_at, kind, record_values, match_key, "
    "converted_object, converted_id, merged_into, attempts, parked"
)


class SyncStateStore(StoreBase):
    """Cursors, inbox, links and pending creates."""

    # -- cursors -----------------------------------------------------------------------
    def get_cursor(
        self, tx: Connection, integration_id: int, side: str, object_name: str
    ) -> tuple[Cursor | None, dt.datetime | None]:
        """The saved position of a feed and when the read that reached it started."""
        row = tx.execute(
            select(cursors.c.cursor, cursors.c.read_at).where(
                cursors.c.integration_id == integration_id,
                cursors.c.side == side,
                cursors.c.object_name == object_name,
            )
        ).first()
        if row is None or not row.cursor:
            return None, None
        return Cursor.model_validate(row.cursor), row.read_at

    def save_cursor(
        self,
        tx: Connection,
        integration_id: int,
        side: str,
        object_name: str,
        cursor: Cursor,
        *,
        read_at: dt.datetime | None = None,
    ) -> None:
        statement = self.insert(cursors).values(
            integration_id=integration_id,
            side=side,
            object_name=object_name,
            cursor=cursor.model_dump(mode="json"),
            read_at=read_at,
            updated_at=dt.datetime.now(dt.UTC),
        )
        tx.execute(
            statement.on_conflict_do_update(
                index_elements=[
                    cursors.c.integration_id,
                    cursors.c.side,
                    cursors.c.object_name,
                ],
                set_={
                    "cursor": statement.excluded.cursor,
                    "read_at": statement.excluded.read_at,
                    "updated_at": statement.excluded.updated_at,
                },
            )
        )

    # -- inbox -------------------------------------------------------------------------
    def stage(
        self,
        tx: Connection,
        integration_id: int,
        side: str,
        object_name: str,
        records: Sequence[ChangedRecord],
        tombstones: Sequence[Tombstone],
        key_of: Callable[[dict[str, Any]], str | None] | None,
    ) -> int:
        """Keep a page of changes durably; a record already waiting is replaced by its
        news.

        ``key_of`` gives a record's match key from its values (the policy's rule,
        :func:`crmsync.policy.match_key_of`); ``None`` keys nothing.
        """
        # Staging is the hottest write of a cycle (every changed record passes here),
        # so it goes to the driver's executemany with pre-serialized JSON: SQLAlchemy's
        # per-row bind processing cost more than the database work itself.
        stamp = self._db_time
        rows: list[tuple[Any, ...]] = []
        for record in records:
            converted = record.converted_to
            rows.append(
                (
                    integration_id,
                    side,
                    object_name,
                    record.record_id,
                    stamp(record.modified_at),
                    "record",
                    dumps(record.values),
                    key_of(record.values) if key_of is not None else None,
                    converted.object_name if converted else None,
                    converted.record_id if converted else None,
                    None,
                )
            )
        for tombstone in tombstones:
            rows.append(
                (
                    integration_id,
                    side,
                    object_name,
                    tombstone.record_id,
                    stamp(tombstone.deleted_at),
                    "tombstone",
                    None,
                    None,
                    None,
                    None,
                    tombstone.merged_into,
                )
            )
        if rows:
            tx.exec_driver_sql(self._stage_sql, rows)
        return len(rows)

    @functools.cached_property
    def _stage_sql(self) -> str:
        marks = self._marks(11)
        newer = "excluded.modified_at > inbox.modified_at"
        return (
            "INSERT INTO inbox (integration_id, side, object_name, record_id, "
            "modified_at, kind, record_values, match_key, converted_object, "
            "converted_id, merged_into, attempts, parked, settled) "
            f"VALUES ({marks}, 0, false, false) "
            "ON CONFLICT (integration_id, side, object_name, record_id) DO UPDATE SET "
            "modified_at = excluded.modified_at, kind = excluded.kind, "
            "record_values = excluded.record_values, match_key = excluded.match_key, "
            "converted_object = excluded.converted_object, "
            "converted_id = excluded.converted_id, merged_into = excluded.merged_into, "
            # A parked failure is tried again only once the record has really changed.
            f"parked = CASE WHEN {newer} THEN false ELSE inbox.parked END, "
            f"attempts = CASE WHEN {newer} THEN 0 ELSE inbox.attempts END, "
            "settled = false"
        )

    def _db_time(self, moment: dt.datetime) -> Any:
        """A datetime as the driver must receive it for this schema's columns."""
        if self.dialect != "sqlite":
            return moment
        # SQLAlchemy's SQLite DATETIME storage: naive UTC text with microseconds. Most
        # stamps written are ones just read (a link keeps its records' times), so the
        # text read is remembered and reused: formatting cost 7% of a cycle.
        stamps = self._stamps
        text = stamps.get(moment)
        if text is None:
            text = moment.isoformat(sep=" ", timespec="microseconds")
            if text.endswith("+00:00"):  # already UTC (nearly always)
                text = text[:-6]
            else:
                utc = moment.astimezone(dt.UTC).replace(tzinfo=None)
                text = utc.isoformat(sep=" ", timespec="microseconds")
            self._remember_stamp(moment, text)
        return text

    def _remember_stamp(self, moment: dt.datetime, text: str) -> None:
        if len(self._stamps) >= _STAMPS_KEPT:
            self._stamps.clear()
        self._stamps[moment] = text

    @functools.cached_property
    def _stamps(self) -> dict[dt.datetime, str]:
        """Recently read or written SQLite stamps: datetime -> stored text."""
        return {}

    def inbox_chunk(
        self,
        tx: Connection,
        integration_id: int,
        side: str,
        object_name: str,
        after_id: int,
        limit: int,
    ) -> list[InboxRow]:
        # SQLite would pick the (integration, side, object, record) unique index, then
        # read and sort every waiting row of the feed for each chunk: quadratic in a
        # large inbox (an initial sync). ``integration_id + 0`` keeps that index out, so
        # SQLite walks the primary key from ``after_id``: each row read once per cycle.
        owner = "integration_id + 0" if self.dialect == "sqlite" else "integration_id"
        mark = self._mark
        return self._inbox_rows(
            tx,
            f"{owner} = {mark} AND side = {mark} AND object_name = {mark} "
            f"AND parked = false AND settled = false AND id > {mark} "
            f"ORDER BY id LIMIT {int(limit)}",
            (integration_id, side, object_name, after_id),
        )

    def inbox_moves(
        self, tx: Connection, integration_id: int, side: str
    ) -> list[InboxRow]:
        """``side``'s waiting rows of records that moved: converted (a lead that became
        a contact) or merged into another record (a tombstone naming its survivor).

        No index serves these columns: this reads the side's waiting rows once, which
        are the cycle's changed records, never the links.
        """
        mark = self._mark
        return self._inbox_rows(
            tx,
            f"integration_id = {mark} AND side = {mark} "
            "AND (converted_id IS NOT NULL OR merged_into IS NOT NULL) "
            "AND parked = false AND settled = false ORDER BY id",
            (integration_id, side),
        )

    def inbox_for_records(
        self,
        tx: Connection,
        integration_id: int,
        side: str,
        keys: Sequence[tuple[str, str]],
    ) -> list[InboxRow]:
        """Inbox rows of ``side`` for (object, record id) pairs."""
        mark = self._mark
        found: list[InboxRow] = []
        for object_name, chunk in _by_object(keys):
            found.extend(
                self._inbox_rows(
                    tx,
                    f"integration_id = {mark} AND side = {mark} AND settled = false "
                    f"AND object_name = {mark} "
                    f"AND record_id IN ({self._marks(len(chunk))})",
                    (integration_id, side, object_name, *chunk),
                )
            )
        return found

    def inbox_by_match_keys(
        self,
        tx: Connection,
        integration_id: int,
        side: str,
        object_names: Sequence[str],
        keys: Sequence[str],
    ) -> list[InboxRow]:
        # Without statistics SQLite prefers the (integration, side, object, record)
        # unique index here and scans every waiting row of the object for each chunk:
        # quadratic in an initial sync (a 1,000,000-record inbox stalled on it). Unary
        # ``+`` keeps that index out, so the lookup goes through ``ix_inbox_match``.
        mark = self._mark
        object_col = "+object_name" if self.dialect == "sqlite" else "object_name"
        objects = self._marks(len(object_names))
        found: list[InboxRow] = []
        for chunk in _chunks(list(keys)):
            found.extend(
                self._inbox_rows(
                    tx,
                    f"integration_id = {mark} AND side = {mark} "
                    f"AND {object_col} IN ({objects}) AND kind = 'record' "
                    f"AND match_key IN ({self._marks(len(chunk))})",
                    (integration_id, side, *object_names, *chunk),
                )
            )
        return found

    def inbox_ids_by_match_keys(
        self,
        tx: Connection,
        integration_id: int,
        side: str,
        object_name: str,
        keys: Sequence[str],
    ) -> list[tuple[str, str]]:
        """(record id, match key) of ``side``'s inbox records of ``object_name`` that
        carry one of ``keys``: :meth:`inbox_by_match_keys` without the rows' values."""
        mark = self._mark
        object_col = "+object_name" if self.dialect == "sqlite" else "object_name"
        found: list[tuple[str, str]] = []
        for chunk in _chunks(list(keys)):
            found.extend(
                (row[0], row[1])
                for row in tx.exec_driver_sql(
                    "SELECT record_id, match_key FROM inbox "
                    f"WHERE integration_id = {mark} AND side = {mark} "
                    f"AND {object_col} = {mark} AND kind = 'record' "
                    f"AND match_key IN ({self._marks(len(chunk))})",
                    (integration_id, side, object_name, *chunk),
                ).fetchall()
            )
        return found

    def _inbox_rows(
        self, tx: Connection, where: str, parameters: tuple[Any, ...]
    ) -> list[InboxRow]:
        """Inbox rows read through the driver.

        Every changed record is read here at least once per cycle; SQLAlchemy's
        per-row result processing (JSON, datetimes, booleans) cost more than the query.
        """
        moment = self._from_db_time
        return [
            InboxRow(
                row[0],
                row[1],
                row[2],
                row[3],
                moment(row[4]),
                row[5],
                _loads(row[6]),
                row[7],
                row[8],
                row[9],
                row[10],
                row[11],
                bool(row[12]),
            )
            for row in tx.exec_driver_sql(
                f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE {where}", parameters
            ).fetchall()
        ]

    @functools.cached_property
    def _mark(self) -> str:
        """The driver's parameter placeholder."""
        return "?" if self.engine.dialect.paramstyle == "qmark" else "%s"

    def _marks(self, count: int) -> str:
        """``count`` placeholders for an ``IN (...)`` list."""
        return ", ".join([self._mark] * count)

    def _for_keys(self, tx: Connection, statement: str, keys: Sequence[Any]) -> None:
        """Run ``statement`` (ending in ``IN``) for ``keys``, one chunk at a time."""
        for chunk in _chunks(list(keys)):
            tx.exec_driver_sql(f"{statement} ({self._marks(len(chunk))})", tuple(chunk))

    def settle_inbox(self, tx: Connection, ids: Sequence[int]) -> None:
        """Mark rows done; they stay visible to matching until :meth:`purge_settled`."""
        self._for_keys(tx, "UPDATE inbox SET settled = true WHERE id IN", ids)

    def delete_inbox(self, tx: Connection, ids: Sequence[int]) -> None:
        """Drop rows that are done and that no later matching needs."""
        self._for_keys(tx, "DELETE FROM inbox WHERE id IN", ids)

    def purge_settled(self, tx: Connection, integration_id: int) -> int:
        """Drop the rows earlier cycles settled."""
        return int(
            tx.execute(
                delete(inbox).where(
                    inbox.c.integration_id == integration_id,
                    inbox.c.settled.is_(True),
                )
            ).rowcount
        )

    def fail_inbox(
        self,
        tx: Connection,
        ids: Sequence[int],
        error: str,
        *,
        park: bool,
        max_attempts: int,
    ) -> None:
        """Count a failed attempt; park the rows when retrying is pointless or
        exhausted.
        """
        for chunk in _chunks(list(ids)):
            tx.execute(
                update(inbox)
                .where(inbox.c.id.in_(chunk))
                .values(
                    attempts=inbox.c.attempts + 1,
                    last_error=error[:2000],
                    parked=True if park else (inbox.c.attempts + 1 >= max_attempts),
                )
            )

    def unpark_inbox(
        self,
        tx: Connection,
        integration_id: int,
        record_ids: Sequence[str] | None = None,
    ) -> int:
        statement = update(inbox).where(
            inbox.c.integration_id == integration_id, inbox.c.parked.is_(True)
        )
        if record_ids is not None:
            statement = statement.where(inbox.c.record_id.in_(record_ids))
        return int(tx.execute(statement.values(parked=False, attempts=0)).rowcount)

    def inbox_counts(self, tx: Connection, integration_id: int) -> dict[str, int]:
        from sqlalchemy import func

        result = tx.execute(
            select(inbox.c.parked, func.count())
            .where(inbox.c.integration_id == integration_id, inbox.c.settled.is_(False))
            .group_by(inbox.c.parked)
        )
        counts = {"waiting": 0, "parked": 0}
        for parked, count in result:
            counts["parked" if parked else "waiting"] += int(count)
        return counts

    # -- links -------------------------------------------------------------------------
    def links_for(
        self,
        tx: Connection,
        integration_id: int,
        side: str,
        keys: Sequence[tuple[str, str]],
    ) -> dict[tuple[str, str], LinkRow]:
        """Links by (object, id) of ``side``.

        Read through the driver: every changed record looks its link up here, and
        SQLAlchemy's per-row JSON and datetime processing cost more than the query.
        """
        prefix = "platform" if side == "platform" else "crm"
        mark = self._mark
        moment = self._from_db_time
        found: dict[tuple[str, str], LinkRow] = {}
        for object_name, chunk in _by_object(keys):
            result = tx.exec_driver_sql(
                "SELECT id, platform_object, platform_id, crm_object, crm_id, "
                "baseline, platform_modified_at, crm_modified_at FROM links "
                f"WHERE integration_id = {mark} AND {prefix}_object = {mark} "
                f"AND {prefix}_id IN ({self._marks(len(chunk))})",
                (integration_id, object_name, *chunk),
            )
            own = 1 if side == "platform" else 3  # where this side's (object, id) is
            for row in result.fetchall():
                # Positional: one LinkRow per changed record, keywords cost more.
                found[(row[own], row[own + 1])] = LinkRow(
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    row[4],
                    _loads(row[5]),
                    None if row[6] is None else moment(row[6]),
                    None if row[7] is None else moment(row[7]),
                    (row[1], row[2], row[3], row[4]),
                )
        return found

    def _from_db_time(self, value: Any) -> dt.datetime:
        """A datetime read through the driver (SQLite: naive UTC text)."""
        if isinstance(value, str):
            parsed = dt.datetime.fromisoformat(value + "+00:00")
            self._remember_stamp(parsed, value)
            return parsed
        moment: dt.datetime = value
        return moment.astimezone(dt.UTC)

    def upsert_links(
        self, tx: Connection, integration_id: int, rows: Sequence[LinkRow]
    ) -> None:
        """Store links and their baselines (driver executemany, like :meth:`stage`)."""
        stamp = self._db_time
        now = stamp(dt.datetime.now(dt.UTC))

        def maybe(moment: dt.datetime | None) -> Any:
            return None if moment is None else stamp(moment)

        moved: list[tuple[Any, ...]] = []
        kept: list[tuple[Any, ...]] = []
        new: list[tuple[Any, ...]] = []
        for r in rows:
            state = (
                dumps(r.baseline),
                maybe(r.platform_modified_at),
                maybe(r.crm_modified_at),
                now,
            )
            if r.id is None:
                new.append((integration_id, *r.identity, *state, now))
            elif r.stored_identity == r.identity:
                kept.append((*state, r.id))
            else:
                moved.append((*r.identity, *state, r.id))
        mark = self._mark
        if moved:  # relinked (a conversion, a merge) or never read from the store
            tx.exec_driver_sql(
                " ".join(
                    (
                        f"UPDATE links SET platform_object = {mark},",
                        f"platform_id = {mark}, crm_object = {mark}, crm_id = {mark},",
                        f"baseline = {mark}, platform_modified_at = {mark},",
                        f"crm_modified_at = {mark}, updated_at = {mark}",
                        f"WHERE id = {mark}",
                    )
                ),
                moved,
            )
        if kept:
            tx.exec_driver_sql(
                f"UPDATE links SET baseline = {mark}, platform_modified_at = {mark}, "
                f"crm_modified_at = {mark}, updated_at = {mark} WHERE id = {mark}",
                kept,
            )
        if new:
            marks = self._marks(10)
            tx.exec_driver_sql(
                "INSERT INTO links (integration_id, platform_object, platform_id, "
                "crm_object, crm_id, baseline, platform_modified_at, crm_modified_at, "
                f"created_at, updated_at) VALUES ({marks})",
                new,
            )

    def delete_links(self, tx: Connection, ids: Sequence[int]) -> None:
        for chunk in _chunks(list(ids)):
            tx.execute(delete(links).where(links.c.id.in_(chunk)))

    def count_links(self, tx: Connection, integration_id: int) -> int:
        from sqlalchemy import func

        return int(
            tx.execute(
                select(func.count())
                .select_from(links)
                .where(links.c.integration_id == integration_id)
            ).scalar()
            or 0
        )

    # -- pending creates
    # -----------------------------------------------------------------
    def add_pending_creates(
        self, tx: Connection, integration_id: int, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Record creates about to be pushed (driver executemany: one row per create of
        an initial sync)."""
        if not rows:
            return
        now = self._db_time(dt.datetime.now(dt.UTC))
        tx.exec_driver_sql(
            "INSERT INTO pending_creates (integration_id, ref, target_side, "
            "target_object, source_object, source_id, match_key, created_at) "
            # A create tried again (its last answer was lost) is pending from now on:
            # the end-of-cycle clear must not take it for a dead cycle's.
            f"VALUES ({self._marks(8)}) ON CONFLICT (ref) DO UPDATE SET "
            "created_at = excluded.created_at",
            [
                (
                    integration_id,
                    row["ref"],
                    row["target_side"],
                    row["target_object"],
                    row["source_object"],
                    row["source_id"],
                    row["match_key"],
                    now,
                )
                for row in rows
            ],
        )

    def pending_match_keys(
        self,
        tx: Connection,
        integration_id: int,
        target_side: str,
        source_object: str,
        source_ids: Sequence[str],
    ) -> dict[str, str]:
        """source id -> the match key its pending create was pushed with."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(source_ids)):
            rows = tx.execute(
                select(pending_creates.c.source_id, pending_creates.c.match_key).where(
                    pending_creates.c.integration_id == integration_id,
                    pending_creates.c.target_side == target_side,
                    pending_creates.c.source_object == source_object,
                    pending_creates.c.source_id.in_(chunk),
                )
            )
            found.update({row[0]: row[1] for row in rows if row[1]})
        return found

    def remove_pending_creates(self, tx: Connection, refs: Sequence[str]) -> None:
        self._for_keys(tx, "DELETE FROM pending_creates WHERE ref IN", refs)

    def clear_pending_creates(
        self,
        tx: Connection,
        integration_id: int,
        *,
        before: dt.datetime,
        keep: Iterable[tuple[str, str, str]] = (),
    ) -> int:
        """Drop the pending creates recorded before ``before`` (a dead cycle's, once a
        later cycle has run to its end and linked what they created), but those of
        ``keep`` (target side, source object, source id): creates still in doubt."""
        kept = set(keep)
        if not kept:
            return int(
                tx.execute(
                    delete(pending_creates).where(
                        pending_creates.c.integration_id == integration_id,
                        pending_creates.c.created_at < before,
                    )
                ).rowcount
            )
        rows = tx.execute(
            select(
                pending_creates.c.id,
                pending_creates.c.target_side,
                pending_creates.c.source_object,
                pending_creates.c.source_id,
            ).where(
                pending_creates.c.integration_id == integration_id,
                pending_creates.c.created_at < before,
            )
        ).all()
        doomed = [row[0] for row in rows if (row[1], row[2], row[3]) not in kept]
        for chunk in _chunks(doomed):
            tx.execute(delete(pending_creates).where(pending_creates.c.id.in_(chunk)))
        return len(doomed)

    def pending_sources_since(
        self,
        tx: Connection,
        integration_id: int,
        target_side: str,
        source_object: str,
        source_ids: Sequence[str],
        since: dt.datetime,
    ) -> set[str]:
        """Source ids whose pending create on ``target_side`` was recorded after
        ``since``: creates still in doubt."""
        found: set[str] = set()
        for chunk in _chunks(list(source_ids)):
            rows = tx.execute(
                select(pending_creates.c.source_id).where(
                    pending_creates.c.integration_id == integration_id,
                    pending_creates.c.target_side == target_side,
                    pending_creates.c.source_object == source_object,
                    pending_creates.c.source_id.in_(chunk),
                    pending_creates.c.created_at > since,
                )
            )
            found.update(row[0] for row in rows)
        return found

    def has_pending_creates(self, tx: Connection, integration_id: int) -> bool:
        return (
            tx.execute(
                select(pending_creates.c.id)
                .where(pending_creates.c.integration_id == integration_id)
                .limit(1)
            ).first()
            is not None
        )


__all__ = ["InboxRow", "LinkRow", "SyncStateStore"]
