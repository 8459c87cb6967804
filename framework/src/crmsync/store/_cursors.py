"""Where each feed's reading stopped: one cursor per (integration, side, object).

Every method takes the transaction (``tx``) it runs in, so the engine decides what
commits together: a page staged with its cursor.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, delete, select

from crmsync.contract.models import Cursor
from crmsync.store._database import Database
from crmsync.store._schema import cursors


class Cursors:
    """The saved position of every feed, and when the read that reached it started."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def get(
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

    def save(
        self,
        tx: Connection,
        integration_id: int,
        side: str,
        object_name: str,
        cursor: Cursor,
        *,
        read_at: dt.datetime | None = None,
    ) -> None:
        """Keep a feed's new position (and when the read that reached it started)."""
        statement = self.database.insert(cursors).values(
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

    def restart_pair(
        self, tx: Connection, integration_id: int, platform_object: str, crm_object: str
    ) -> None:
        """Forget both feeds of an object pair: the next cycle reads them whole."""
        tx.execute(
            delete(cursors).where(
                cursors.c.integration_id == integration_id,
                (
                    (cursors.c.side == "platform")
                    & (cursors.c.object_name == platform_object)
                )
                | ((cursors.c.side == "crm") & (cursors.c.object_name == crm_object)),
            )
        )

    def restart_all(self, tx: Connection, integration_id: int) -> None:
        """Forget every feed of the integration: the next cycle reads both sides."""
        tx.execute(delete(cursors).where(cursors.c.integration_id == integration_id))


__all__ = ["Cursors"]
