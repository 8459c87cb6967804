"""Write intents: the updates a cycle is about to push, kept until their answers'
baselines are stored.

A process that dies after the vendor accepted an update, but before the new baseline
was stored, would otherwise take its own write for somebody's edit on the next read.
A chunk's intents are one row, written in the transaction that queues the chunk and
removed in the one that stores the last of its answers' baselines; only rows a dead
cycle left behind are ever read (once, at a cycle's start). Every method takes the
transaction (``tx``) it runs in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from crmsync.store._batches import for_keys
from crmsync.store._database import Database
from crmsync.store._schema import write_intents

# (side written, object, record id, {mapping key: [baseline before, baseline after]})
WriteIntent = tuple[str, str, str, dict[str, Any]]


class WriteIntents:
    """Updates about to be pushed, one row per chunk, by integration."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def add(
        self, tx: Connection, integration_id: int, intents: Sequence[WriteIntent]
    ) -> int | None:
        """Record a chunk's updates about to be pushed, as one row: (side written,
        object, record id, {mapping key: [baseline before, baseline the write leads
        to]} for the fields it sets). Returns the row's id (``None``: nothing to
        record)."""
        if not intents:
            return None
        row_id = tx.execute(
            insert(write_intents)
            .values(
                integration_id=integration_id,
                intents=[list(intent) for intent in intents],
                created_at=dt.datetime.now(dt.UTC),
            )
            .returning(write_intents.c.id)
        ).scalar_one()
        return int(row_id)

    def left_behind(
        self, tx: Connection, integration_id: int
    ) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
        """Every recorded intent of the integration by (side, object, record id),
        oldest first. Only rows a cycle left behind are here (a cycle removes its own
        as the answers come), so this is read once, at a cycle's start."""
        found: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        rows = tx.execute(
            select(write_intents.c.intents)
            .where(write_intents.c.integration_id == integration_id)
            .order_by(write_intents.c.id)
        )
        for (intents,) in rows:
            for side, object_name, record_id, entries in intents:
                found.setdefault((side, object_name, record_id), []).append(entries)
        return found

    def remove(self, tx: Connection, ids: Sequence[int]) -> None:
        """Drop intent rows whose answers' baselines are stored in ``tx``."""
        for_keys(self.database, tx, "DELETE FROM write_intents WHERE id IN", ids)

    def clear(self, tx: Connection, integration_id: int, *, before: dt.datetime) -> int:
        """Drop the intent rows recorded before ``before``: expired."""
        return int(
            tx.execute(
                delete(write_intents).where(
                    write_intents.c.integration_id == integration_id,
                    write_intents.c.created_at < before,
                )
            ).rowcount
        )


__all__ = ["WriteIntent", "WriteIntents"]
