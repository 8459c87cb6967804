"""The inbox: changes read from either side, kept durably until a cycle settles them.

Every method takes the transaction (``tx``) it runs in, so the engine decides what
commits together: a page staged with its cursor, a batch's results with its errors.
All reads are by key (record ids, match keys) in batches or walk the waiting rows of a
feed: nothing here scans every link.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from crmsync.contract.models import ChangedRecord, Tombstone
from crmsync.store._batches import by_object, chunks, for_keys, json_dict
from crmsync.store._database import Database
from crmsync.store._schema import dumps, inbox


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


# The inbox's columns in the order ``_rows`` reads them.
_INBOX_COLUMNS = (
    "id, side, object_name, record_id, modified_at, kind, record_values, match_key, "
    "converted_object, converted_id, merged_into, attempts, parked"
)


class Inbox:
    """Staged changes: what waits, what is parked after failing, what is settled."""

    def __init__(self, database: Database) -> None:
        self.database = database

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
        stamp = self.database.to_db_time
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
        marks = self.database.marks(11)
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

    def chunk(
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
        sqlite = self.database.dialect == "sqlite"
        owner = "integration_id + 0" if sqlite else "integration_id"
        mark = self.database.mark
        return self._rows(
            tx,
            f"{owner} = {mark} AND side = {mark} AND object_name = {mark} "
            f"AND parked = false AND settled = false AND id > {mark} "
            f"ORDER BY id LIMIT {int(limit)}",
            (integration_id, side, object_name, after_id),
        )

    def moves(self, tx: Connection, integration_id: int, side: str) -> list[InboxRow]:
        """``side``'s waiting rows of records that moved: converted (a lead that became
        a contact) or merged into another record (a tombstone naming its survivor).

        No index serves these columns: this reads the side's waiting rows once, which
        are the cycle's changed records, never the links.
        """
        mark = self.database.mark
        return self._rows(
            tx,
            f"integration_id = {mark} AND side = {mark} "
            "AND (converted_id IS NOT NULL OR merged_into IS NOT NULL) "
            "AND parked = false AND settled = false ORDER BY id",
            (integration_id, side),
        )

    def for_records(
        self,
        tx: Connection,
        integration_id: int,
        side: str,
        keys: Sequence[tuple[str, str]],
    ) -> list[InboxRow]:
        """Inbox rows of ``side`` for (object, record id) pairs."""
        mark = self.database.mark
        found: list[InboxRow] = []
        for object_name, chunk in by_object(keys):
            found.extend(
                self._rows(
                    tx,
                    f"integration_id = {mark} AND side = {mark} AND settled = false "
                    f"AND object_name = {mark} "
                    f"AND record_id IN ({self.database.marks(len(chunk))})",
                    (integration_id, side, object_name, *chunk),
                )
            )
        return found

    def by_match_keys(
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
        mark = self.database.mark
        sqlite = self.database.dialect == "sqlite"
        object_col = "+object_name" if sqlite else "object_name"
        objects = self.database.marks(len(object_names))
        found: list[InboxRow] = []
        for chunk in chunks(list(keys)):
            found.extend(
                self._rows(
                    tx,
                    f"integration_id = {mark} AND side = {mark} "
                    f"AND {object_col} IN ({objects}) AND kind = 'record' "
                    f"AND match_key IN ({self.database.marks(len(chunk))})",
                    (integration_id, side, *object_names, *chunk),
                )
            )
        return found

    def ids_by_match_keys(
        self,
        tx: Connection,
        integration_id: int,
        side: str,
        object_name: str,
        keys: Sequence[str],
    ) -> list[tuple[str, str]]:
        """(record id, match key) of ``side``'s inbox records of ``object_name`` that
        carry one of ``keys``: :meth:`by_match_keys` without the rows' values."""
        mark = self.database.mark
        sqlite = self.database.dialect == "sqlite"
        object_col = "+object_name" if sqlite else "object_name"
        found: list[tuple[str, str]] = []
        for chunk in chunks(list(keys)):
            found.extend(
                (row[0], row[1])
                for row in tx.exec_driver_sql(
                    "SELECT record_id, match_key FROM inbox "
                    f"WHERE integration_id = {mark} AND side = {mark} "
                    f"AND {object_col} = {mark} AND kind = 'record' "
                    f"AND match_key IN ({self.database.marks(len(chunk))})",
                    (integration_id, side, object_name, *chunk),
                ).fetchall()
            )
        return found

    def _rows(
        self, tx: Connection, where: str, parameters: tuple[Any, ...]
    ) -> list[InboxRow]:
        """Inbox rows read through the driver.

        Every changed record is read here at least once per cycle; SQLAlchemy's
        per-row result processing (JSON, datetimes, booleans) cost more than the query.
        """
        moment = self.database.from_db_time
        return [
            InboxRow(
                row[0],
                row[1],
                row[2],
                row[3],
                moment(row[4]),
                row[5],
                json_dict(row[6]),
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

    def settle(self, tx: Connection, ids: Sequence[int]) -> None:
        """Mark rows done; they stay visible to matching until :meth:`purge_settled`."""
        for_keys(self.database, tx, "UPDATE inbox SET settled = true WHERE id IN", ids)

    def delete(self, tx: Connection, ids: Sequence[int]) -> None:
        """Drop rows that are done and that no later matching needs."""
        for_keys(self.database, tx, "DELETE FROM inbox WHERE id IN", ids)

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

    def fail(
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
        for chunk in chunks(list(ids)):
            tx.execute(
                update(inbox)
                .where(inbox.c.id.in_(chunk))
                .values(
                    attempts=inbox.c.attempts + 1,
                    last_error=error[:2000],
                    parked=True if park else (inbox.c.attempts + 1 >= max_attempts),
                )
            )

    def unpark(
        self,
        tx: Connection,
        integration_id: int,
        record_ids: Sequence[str] | None = None,
    ) -> int:
        """Try parked rows again (all of the integration's, or those of
        ``record_ids``); how many."""
        statement = update(inbox).where(
            inbox.c.integration_id == integration_id, inbox.c.parked.is_(True)
        )
        if record_ids is not None:
            statement = statement.where(inbox.c.record_id.in_(record_ids))
        return int(tx.execute(statement.values(parked=False, attempts=0)).rowcount)

    def counts(self, tx: Connection, integration_id: int) -> dict[str, int]:
        """How many unsettled rows wait and how many are parked."""
        result = tx.execute(
            select(inbox.c.parked, func.count())
            .where(inbox.c.integration_id == integration_id, inbox.c.settled.is_(False))
            .group_by(inbox.c.parked)
        )
        counts = {"waiting": 0, "parked": 0}
        for parked, count in result:
            counts["parked" if parked else "waiting"] += int(count)
        return counts


__all__ = ["Inbox", "InboxRow"]
