"""One cycle per integration at a time: a lock that dies with its holder, and a lease.

Two mechanisms, for two different failures:

* A **holder lock** that the operating system or the database releases the moment its
  holder dies: a session advisory lock on PostgreSQL (released when the connection
  closes), a byte-range lock on a file beside the database for SQLite (released when the
  process exits). After a ``kill -9`` the next cycle starts at once; nobody waits for a
  clock.
* The **lease row** (owner, expiry), which fences a holder that is alive but stalled: a
  cycle checks it before every push, and a process that took over (because the stalled
  holder's database session died, or because its lease expired) has overwritten it.

A cycle that takes the holder lock overwrites the lease row whatever its expiry (its
last holder is dead or has lost its session) and records the runs that holder left
``running`` as ``interrupted``. A cycle that cannot take the holder lock may still take
an expired lease, as before, so a holder stalled for longer than the lease never blocks
the integration for good.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, select, text, update

from crmsync.store._database import Database
from crmsync.store._schema import leases, runs

__all__ = ["INTERRUPTED_MESSAGE", "Leases"]

# pg_try_advisory_lock(namespace, integration_id): the namespace keeps crmsync's locks
# apart from any other application's advisory locks in the same database.
_PG_NAMESPACE = zlib.crc32(b"crmsync.cycle") & 0x7FFFFFFF
INTERRUPTED_MESSAGE = "the process running this cycle stopped before it finished"


@dataclass
class _LockFile:
    """The SQLite lock file of one database, shared by every store of the process.

    POSIX record locks belong to the process, and closing *any* descriptor of the file
    drops all of them: so one descriptor per file, kept open while a lock is held, and
    the process's own holders tracked here (record locks never conflict within a
    process).
    """

    fd: int
    held: set[int] = field(default_factory=set)


_FILES: dict[str, _LockFile] = {}
_FILES_LOCK = threading.Lock()


class _HolderLocks:
    """The holder locks of one store, by integration id."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._pg: dict[int, Connection] = {}
        self._sqlite_mine: set[int] = set()  # this store's holds among the process's
        self._memory_key = f"memory:{id(database)}"

    # -- SQLite --------------------------------------------------------------------
    def _lock_path(self) -> str | None:
        database = self._database.engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return os.path.abspath(database) + "-lease"

    def _sqlite_try(self, integration_id: int) -> bool:
        path = self._lock_path()
        key = path or self._memory_key
        with _FILES_LOCK:
            entry = _FILES.get(key)
            if entry is None:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600) if path else -1
                entry = _FILES[key] = _LockFile(fd)
            if integration_id in entry.held:
                return False
            if entry.fd >= 0:
                try:
                    flags = fcntl.LOCK_EX | fcntl.LOCK_NB
                    fcntl.lockf(entry.fd, flags, 1, integration_id)
                except OSError:
                    return False
            entry.held.add(integration_id)
            self._sqlite_mine.add(integration_id)
            return True

    def _sqlite_release(self, integration_id: int) -> None:
        key = self._lock_path() or self._memory_key
        with _FILES_LOCK:
            entry = _FILES.get(key)
            if entry is None or integration_id not in self._sqlite_mine:
                return
            self._sqlite_mine.discard(integration_id)
            entry.held.discard(integration_id)
            if entry.fd >= 0:
                fcntl.lockf(entry.fd, fcntl.LOCK_UN, 1, integration_id)

    # -- PostgreSQL ----------------------------------------------------------------
    def _pg_try(self, integration_id: int) -> bool:
        if integration_id in self._pg:
            return False
        connection = self._database.engine.connect()
        try:
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(:ns, :iid)"),
                {"ns": _PG_NAMESPACE, "iid": integration_id},
            ).scalar()
            connection.commit()  # the session lock outlives the transaction
        except BaseException:
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        self._pg[integration_id] = connection
        return True

    def _pg_release(self, integration_id: int) -> None:
        connection = self._pg.pop(integration_id, None)
        if connection is None:
            return
        with contextlib.suppress(Exception):
            connection.execute(
                text("SELECT pg_advisory_unlock(:ns, :iid)"),
                {"ns": _PG_NAMESPACE, "iid": integration_id},
            )
            connection.commit()
        # Closing would return a connection that still holds the lock to the pool if the
        # unlock failed: invalidate it instead, so the server drops the session.
        with contextlib.suppress(Exception):
            connection.invalidate()
        connection.close()

    # -- either ----------------------------------------------------------------------
    def holds(self, integration_id: int) -> bool:
        if self._database.dialect == "postgresql":
            return integration_id in self._pg
        return integration_id in self._sqlite_mine

    def try_take(self, integration_id: int) -> bool:
        if self._database.dialect == "postgresql":
            return self._pg_try(integration_id)
        return self._sqlite_try(integration_id)

    def release(self, integration_id: int) -> None:
        if self._database.dialect == "postgresql":
            self._pg_release(integration_id)
        else:
            self._sqlite_release(integration_id)

    def release_all(self) -> None:
        for integration_id in list(self._pg):
            self._pg_release(integration_id)
        for integration_id in list(self._sqlite_mine):
            self._sqlite_release(integration_id)


class Leases:
    """The cycle lease of each integration (see the module docstring)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._holder_locks = _HolderLocks(database)

    def acquire(self, integration_id: int, owner: str, seconds: float) -> bool:
        """Take or renew the integration's cycle lease for ``owner``.

        Returns ``False`` when another live owner holds it. Renewing (``owner`` already
        holds it) fails when another process has taken the lease over in the meantime,
        which is how a stalled cycle learns that it must stop.
        """
        locks = self._holder_locks
        now = dt.datetime.now(dt.UTC)
        until = now + dt.timedelta(seconds=seconds)
        if locks.holds(integration_id):
            return self._upsert_lease(integration_id, owner, until, now, force=False)
        if locks.try_take(integration_id):
            try:
                self._upsert_lease(integration_id, owner, until, now, force=True)
            except BaseException:
                locks.release(integration_id)
                raise
            return True
        # The holder lock is taken: by a live holder, or by one stalled so long that
        # its lease expired (then the lease is taken over and fences it).
        return self._upsert_lease(integration_id, owner, until, now, force=False)

    def release(self, integration_id: int, owner: str) -> None:
        """Give the lease and the holder lock back (a no-op for a lease lost)."""
        try:
            with self.database.transaction() as tx:
                tx.execute(
                    delete(leases).where(
                        leases.c.integration_id == integration_id,
                        leases.c.owner == owner,
                    )
                )
        finally:
            self._holder_locks.release(integration_id)

    def cycle_alive(self, integration_id: int) -> bool:
        """Whether a live process holds the integration's holder lock now.

        A run recorded ``running`` with no live holder was interrupted (its process
        died); :meth:`acquire` records it so when the next cycle starts.
        """
        locks = self._holder_locks
        if locks.holds(integration_id):
            return True
        if not locks.try_take(integration_id):
            return True
        locks.release(integration_id)
        return False

    def _upsert_lease(
        self,
        integration_id: int,
        owner: str,
        until: dt.datetime,
        now: dt.datetime,
        *,
        force: bool,
    ) -> bool:
        with self.database.transaction() as tx:
            statement: Any = self.database.insert(leases).values(
                integration_id=integration_id, owner=owner, expires_at=until
            )
            statement = statement.on_conflict_do_update(
                index_elements=[leases.c.integration_id],
                set_={"owner": owner, "expires_at": until},
                where=None
                if force
                else (leases.c.expires_at < now) | (leases.c.owner == owner),
            )
            tx.execute(statement)
            holder = tx.execute(
                select(leases.c.owner).where(leases.c.integration_id == integration_id)
            ).scalar()
            taken = bool(holder == owner)
            if taken and force:
                # The holder lock was free: whoever ran the integration before is gone.
                tx.execute(
                    update(runs)
                    .where(
                        runs.c.integration_id == integration_id,
                        runs.c.status == "running",
                    )
                    .values(
                        status="interrupted",
                        finished_at=now,
                        message=INTERRUPTED_MESSAGE,
                    )
                )
        return taken

    def release_all(self) -> None:
        """Give back every holder lock this store took (the store is closing)."""
        self._holder_locks.release_all()
