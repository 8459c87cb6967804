"""Links: which platform record is which CRM record, with the baseline of their last
agreed values.

Every method takes the transaction (``tx``) it runs in, so the engine decides what
commits together: a batch's results with its links. All reads are by key in batches:
nothing here scans every link, except :meth:`Links.linked_ids`, which pages through one
object's links only when a feed says it lost deletions (``engine._reconcile``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from crmsync.store._batches import by_object, chunks, json_dict
from crmsync.store._database import Database
from crmsync.store._schema import dumps, link_counts, links


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


class Links:
    """The integration's links, read and written by key."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def find(
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
        mark = self.database.mark
        moment = self.database.from_db_time
        found: dict[tuple[str, str], LinkRow] = {}
        for object_name, chunk in by_object(keys):
            result = tx.exec_driver_sql(
                "SELECT id, platform_object, platform_id, crm_object, crm_id, "
                "baseline, platform_modified_at, crm_modified_at FROM links "
                f"WHERE integration_id = {mark} AND {prefix}_object = {mark} "
                f"AND {prefix}_id IN ({self.database.marks(len(chunk))})",
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
                    json_dict(row[5]),
                    None if row[6] is None else moment(row[6]),
                    None if row[7] is None else moment(row[7]),
                    (row[1], row[2], row[3], row[4]),
                )
        return found

    def upsert(
        self, tx: Connection, integration_id: int, rows: Sequence[LinkRow]
    ) -> None:
        """Store links and their baselines (driver executemany, like
        :meth:`Inbox.stage`)."""
        stamp = self.database.to_db_time
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
        mark = self.database.mark
        counts: dict[tuple[str, str], int] = {}
        for r in rows:
            if r.id is None:
                pair = (r.platform_object, r.crm_object)
                counts[pair] = counts.get(pair, 0) + 1
        if moved:
            self._count_moves(tx, [r for r in rows if r.id is not None], counts)
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
            marks = self.database.marks(10)
            tx.exec_driver_sql(
                "INSERT INTO links (integration_id, platform_object, platform_id, "
                "crm_object, crm_id, baseline, platform_modified_at, crm_modified_at, "
                f"created_at, updated_at) VALUES ({marks})",
                new,
            )
        self._add_counts(tx, integration_id, counts)

    def _count_moves(
        self,
        tx: Connection,
        rows: Sequence[LinkRow],
        counts: dict[tuple[str, str], int],
    ) -> None:
        """Add to ``counts`` the links that change object pair (a lead converted to a
        contact moves from Lead's count to Contact's)."""
        unknown = [r.id for r in rows if r.stored_identity is None and r.id is not None]
        stored: dict[int, tuple[str, str]] = {}
        for chunk in chunks(unknown):
            stored.update(
                (row[0], (row[1], row[2]))
                for row in tx.execute(
                    select(
                        links.c.id, links.c.platform_object, links.c.crm_object
                    ).where(links.c.id.in_(chunk))
                )
            )
        for r in rows:
            before = (
                (r.stored_identity[0], r.stored_identity[2])
                if r.stored_identity is not None
                else stored.get(r.id or 0)
            )
            after = (r.platform_object, r.crm_object)
            if before is not None and before != after:
                counts[before] = counts.get(before, 0) - 1
                counts[after] = counts.get(after, 0) + 1

    def _add_counts(
        self,
        tx: Connection,
        integration_id: int,
        counts: dict[tuple[str, str], int],
    ) -> None:
        """Move each object pair's link count by its delta, in the caller's
        transaction (one statement; a cycle holds its integration's lease, so no two
        transactions change one integration's counts at once)."""
        changes = [
            (integration_id, platform_object, crm_object, delta)
            for (platform_object, crm_object), delta in counts.items()
            if delta
        ]
        if not changes:
            return
        tx.exec_driver_sql(
            "INSERT INTO link_counts (integration_id, platform_object, crm_object, "
            f"links) VALUES ({self.database.marks(4)}) "
            "ON CONFLICT (integration_id, platform_object, crm_object) DO UPDATE SET "
            "links = link_counts.links + excluded.links",
            changes,
        )

    def delete(self, tx: Connection, ids: Sequence[int]) -> None:
        """Drop links by id, and take them off their object pairs' counts."""
        counts: dict[int, dict[tuple[str, str], int]] = {}
        for chunk in chunks(list(ids)):
            for integration_id, platform_object, crm_object, number in tx.execute(
                select(
                    links.c.integration_id,
                    links.c.platform_object,
                    links.c.crm_object,
                    func.count(),
                )
                .where(links.c.id.in_(chunk))
                .group_by(
                    links.c.integration_id, links.c.platform_object, links.c.crm_object
                )
            ):
                pairs = counts.setdefault(integration_id, {})
                pair = (platform_object, crm_object)
                pairs[pair] = pairs.get(pair, 0) - int(number)
            tx.execute(delete(links).where(links.c.id.in_(chunk)))
        for integration_id, pairs in counts.items():
            self._add_counts(tx, integration_id, pairs)

    def linked_ids(
        self,
        tx: Connection,
        integration_id: int,
        side: str,
        object_name: str,
        *,
        after: str,
        limit: int,
    ) -> list[str]:
        """Up to ``limit`` ids of ``object_name`` on ``side`` that have a link, in id
        order, after ``after`` (``""``: from the first).

        A keyset page of the (integration, object, id) unique index: each page costs
        its own rows, however many links come before it. Only a link reconciliation
        reads links this way (the engine's ``_reconcile``), never a cycle's usual path.
        """
        owner, record = (
            (links.c.platform_object, links.c.platform_id)
            if side == "platform"
            else (links.c.crm_object, links.c.crm_id)
        )
        rows = tx.execute(
            select(record)
            .where(
                links.c.integration_id == integration_id,
                owner == object_name,
                record > after,
            )
            .order_by(record)
            .limit(limit)
        )
        return [str(row[0]) for row in rows]

    def count(self, tx: Connection, integration_id: int) -> int:
        """The integration's links, from the counts kept with them (no scan)."""
        return int(
            tx.execute(
                select(func.sum(link_counts.c.links)).where(
                    link_counts.c.integration_id == integration_id
                )
            ).scalar()
            or 0
        )

    def count_by_integration(self, tx: Connection) -> dict[int, int]:
        """Every integration's links by its id, in one read of the kept counts."""
        return {
            int(row[0]): int(row[1] or 0)
            for row in tx.execute(
                select(
                    link_counts.c.integration_id, func.sum(link_counts.c.links)
                ).group_by(link_counts.c.integration_id)
            )
        }

    def clear_baselines(self, tx: Connection, integration_id: int) -> int:
        """Forget every link's baseline (a rebaseline); how many links."""
        return int(
            tx.execute(
                update(links)
                .where(links.c.integration_id == integration_id)
                .values(baseline={})
            ).rowcount
        )

    def delete_pair(
        self, tx: Connection, integration_id: int, platform_object: str, crm_object: str
    ) -> int:
        """Drop the links of an object pair (the pair is removed) with their count;
        how many."""
        tx.execute(
            delete(link_counts).where(
                link_counts.c.integration_id == integration_id,
                link_counts.c.platform_object == platform_object,
                link_counts.c.crm_object == crm_object,
            )
        )
        return int(
            tx.execute(
                delete(links).where(
                    links.c.integration_id == integration_id,
                    links.c.platform_object == platform_object,
                    links.c.crm_object == crm_object,
                )
            ).rowcount
        )


__all__ = ["LinkRow", "Links"]
