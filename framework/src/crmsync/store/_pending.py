"""Pending creates: records about to be created on the other side, kept until a cycle
links what they created.

A create whose answer was lost (the process died, the connection dropped) may have
happened: the next cycle finds the created record by the match key its pending create
was pushed with, instead of creating it twice. Every method takes the transaction
(``tx``) it runs in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from crmsync.store._batches import chunks, for_keys
from crmsync.store._database import Database
from crmsync.store._schema import pending_creates


class PendingCreates:
    """Creates pushed and not yet linked, by target side and source record."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def add(
        self, tx: Connection, integration_id: int, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Record creates about to be pushed (driver executemany: one row per create of
        an initial sync)."""
        if not rows:
            return
        now = self.database.to_db_time(dt.datetime.now(dt.UTC))
        tx.exec_driver_sql(
            "INSERT INTO pending_creates (integration_id, ref, target_side, "
            "target_object, source_object, source_id, match_key, created_at) "
            # A create tried again (its last answer was lost) is pending from now on:
            # the end-of-cycle clear must not take it for a dead cycle's.
            f"VALUES ({self.database.marks(8)}) ON CONFLICT (ref) DO UPDATE SET "
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

    def match_keys(
        self,
        tx: Connection,
        integration_id: int,
        target_side: str,
        source_object: str,
        source_ids: Sequence[str],
    ) -> dict[str, str]:
        """source id -> the match key its pending create was pushed with."""
        found: dict[str, str] = {}
        for chunk in chunks(list(source_ids)):
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

    def remove(self, tx: Connection, refs: Sequence[str]) -> None:
        """Drop the pending creates of ``refs`` (answered, and linked or refused)."""
        for_keys(self.database, tx, "DELETE FROM pending_creates WHERE ref IN", refs)

    def clear(
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
        for chunk in chunks(doomed):
            tx.execute(delete(pending_creates).where(pending_creates.c.id.in_(chunk)))
        return len(doomed)

    def sources_since(
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
        for chunk in chunks(list(source_ids)):
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

    def any(self, tx: Connection, integration_id: int) -> bool:
        """Whether the integration has a create still pending."""
        return (
            tx.execute(
                select(pending_creates.c.id)
                .where(pending_creates.c.integration_id == integration_id)
                .limit(1)
            ).first()
            is not None
        )


__all__ = ["PendingCreates"]
