"""The state store as workers and the dispatcher use it: the schedule, and the cycle
lease with the workers' takeover rule.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from crmsync.errors import StateError
from crmsync.settings import DEFAULT_SQLITE_CACHE_MB
from crmsync.store import Database, Leases, StateStore
from crmsync.store._schema import leases


class WorkerLeases(Leases):
    """Cycle leases that last ``lease_seconds`` and are never taken over before they
    expire.

    The store's holder lock lets the next cycle start as soon as a killed holder's
    database session is gone. Among workers that is too soon: a worker killed while
    a create was on its way to the vendor leaves a request that the vendor may still
    carry out, after the next cycle has looked for the record and not found it, and
    the record would be created twice. So a worker takes an integration over only
    once the dead holder's lease row has expired: ``lease_seconds`` must exceed the
    connectors' request timeouts. A cycle renews its lease every minute and checks
    it before every push, so the lease also fences a holder that is alive but
    stalled.
    """

    def __init__(self, database: Database, *, lease_seconds: float) -> None:
        super().__init__(database)
        self.lease_seconds = lease_seconds

    def acquire(self, integration_id: int, owner: str, seconds: float) -> bool:
        if self._leased_to_another(integration_id, owner):
            return False
        return super().acquire(integration_id, owner, min(seconds, self.lease_seconds))

    def _leased_to_another(self, integration_id: int, owner: str) -> bool:
        with self.database.engine.connect() as connection:
            row = connection.execute(
                select(leases.c.owner, leases.c.expires_at).where(
                    leases.c.integration_id == integration_id
                )
            ).first()
        return (
            row is not None
            and row.owner != owner
            and row.expires_at > dt.datetime.now(dt.UTC)
        )


class WorkerStore(StateStore):
    """A :class:`~crmsync.store.StateStore` whose cycle leases are
    :class:`WorkerLeases`: they last ``lease_seconds`` and are never taken over
    before they expire."""

    leases: WorkerLeases

    def __init__(
        self,
        url: str,
        *,
        lease_seconds: float,
        sqlite_cache_mb: int = DEFAULT_SQLITE_CACHE_MB,
    ) -> None:
        super().__init__(url, sqlite_cache_mb=sqlite_cache_mb)
        self.leases = WorkerLeases(self.database, lease_seconds=lease_seconds)


def open_worker_store(
    url: str,
    *,
    lease_seconds: float,
    sqlite_cache_mb: int = DEFAULT_SQLITE_CACHE_MB,
) -> WorkerStore:
    """Open the state store for workers: it must exist (``crmsync integration
    create`` makes it); its schema is brought up to date.

    :raises StateError: no state store at ``url``, or it is not a crmsync store.
    """
    store = WorkerStore(
        url, lease_seconds=lease_seconds, sqlite_cache_mb=sqlite_cache_mb
    )
    try:
        store.ensure_schema(create=False)
    except StateError:
        store.dispose()
        raise
    return store


__all__ = ["WorkerLeases", "WorkerStore", "open_worker_store"]
