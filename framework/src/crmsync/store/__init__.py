"""The state store: SQLAlchemy 2 on SQLite (default, WAL) or PostgreSQL, migrated by
Alembic.

One :class:`StateStore` serves every face and the engine. It owns one
:class:`Database` (engine, dialect, migrations, transactions) and hands out named
collaborators, each a class of its own that takes the database and can be read alone:

* ``store.config``: integrations, object pairs, mappings, the source-of-truth lock
  (:mod:`._config`);
* ``store.cursors``: where each feed's reading stopped (:mod:`._cursors`);
* ``store.leases``: one cycle per integration at a time (:mod:`._leases`);
* ``store.inbox``: changes staged until a cycle settles them (:mod:`._inbox`);
* ``store.links``: linked records and their baselines (:mod:`._links`);
* ``store.pending``: creates pushed and not yet linked (:mod:`._pending`);
* ``store.intents``: updates pushed and not yet answered, to know crmsync's own writes
  after a crash (:mod:`._intents`);
* ``store.history``: runs, per-record errors and the event log (:mod:`._history`);
* ``store.decisions``: the per-field decision log, kept for a retention
  (:mod:`._decisions`);
* ``store.overview``: reads across every integration at once (:mod:`._overview`);
* ``store.schedule``: which integrations run on the workers, and when
  (:mod:`._schedule`).

Methods that belong to one cycle's unit of work take the transaction (``tx``) they run
in, from ``store.database.transaction()``.
"""

from __future__ import annotations

from sqlalchemy import Engine

from crmsync.settings import DEFAULT_SQLITE_CACHE_MB
from crmsync.store._config import Configuration, is_secret_setting
from crmsync.store._cursors import Cursors
from crmsync.store._database import Database, stored_id
from crmsync.store._decisions import DecisionLog, DecisionRow, FieldWrite
from crmsync.store._dryrun import dry_run_store
from crmsync.store._history import EventRow, History, RecordErrorRow, RunRecord
from crmsync.store._inbox import Inbox, InboxRow
from crmsync.store._intents import WriteIntent, WriteIntents
from crmsync.store._leases import Leases
from crmsync.store._links import LinkRow, Links
from crmsync.store._overview import IntegrationRow, Overview
from crmsync.store._pending import PendingCreates
from crmsync.store._schedule import Schedule


class StateStore:
    """Everything crmsync keeps: one database and its named collaborators (see the
    module docstring); open with :func:`open_store`."""

    def __init__(
        self,
        url: str,
        *,
        engine: Engine | None = None,
        sqlite_cache_mb: int = DEFAULT_SQLITE_CACHE_MB,
    ) -> None:
        self.database = Database(url, engine=engine, sqlite_cache_mb=sqlite_cache_mb)
        self.config = Configuration(self.database)
        self.cursors = Cursors(self.database)
        self.leases = Leases(self.database)
        self.inbox = Inbox(self.database)
        self.links = Links(self.database)
        self.pending = PendingCreates(self.database)
        self.intents = WriteIntents(self.database)
        self.history = History(self.database)
        self.decisions = DecisionLog(self.database)
        self.overview = Overview(self.database)
        self.schedule = Schedule(self.database)

    def ensure_schema(self, *, create: bool = True) -> None:
        """Bring the schema to the newest revision (see
        :meth:`Database.ensure_schema`)."""
        self.database.ensure_schema(create=create)

    def dispose(self) -> None:
        """Give back the holder locks this store took, then close its connections."""
        try:
            self.leases.release_all()
        finally:
            self.database.dispose()


def open_store(
    url: str,
    *,
    migrate: bool = True,
    sqlite_cache_mb: int = DEFAULT_SQLITE_CACHE_MB,
) -> StateStore:
    """Open the store at ``url`` and bring its schema up to date.

    ``sqlite_cache_mb`` is the page cache of each SQLite connection (the setting
    ``CRMSYNC_SQLITE_CACHE_MB``); PostgreSQL ignores it.
    """
    store = StateStore(url, sqlite_cache_mb=sqlite_cache_mb)
    if migrate:
        store.ensure_schema()
    return store


__all__ = [
    "Configuration",
    "Cursors",
    "Database",
    "DecisionLog",
    "DecisionRow",
    "EventRow",
    "FieldWrite",
    "History",
    "Inbox",
    "InboxRow",
    "IntegrationRow",
    "Leases",
    "LinkRow",
    "Links",
    "Overview",
    "PendingCreates",
    "RecordErrorRow",
    "RunRecord",
    "Schedule",
    "StateStore",
    "WriteIntent",
    "WriteIntents",
    "dry_run_store",
    "is_secret_setting",
    "open_store",
    "stored_id",
]
