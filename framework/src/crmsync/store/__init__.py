"""The state store: SQLAlchemy 2 on SQLite (default, WAL) or PostgreSQL, migrated by
Alembic.

One :class:`StateStore` serves the CLI and the engine. Configuration (integrations,
pairs, mappings) lives in :mod:`._config`, the engine's working state (cursors, inbox,
links, pending creates) in :mod:`._sync`, the cycle lease in :mod:`._leases`, and what
happened (runs, errors, events) in :mod:`._history`, the per-field decision log in
:mod:`._decisions`.
"""

from __future__ import annotations

from crmsync.settings import DEFAULT_SQLITE_CACHE_MB
from crmsync.store._config import ConfigStore, is_secret_setting
from crmsync.store._decisions import DecisionLogStore, DecisionRow, FieldWrite
from crmsync.store._dryrun import dry_run_store
from crmsync.store._history import EventRow, HistoryStore, RecordErrorRow, RunRecord
from crmsync.store._leases import LeaseStore
from crmsync.store._overview import IntegrationRow, OverviewStore
from crmsync.store._sync import InboxRow, LinkRow, SyncStateStore


class StateStore(
    ConfigStore,
    SyncStateStore,
    HistoryStore,
    LeaseStore,
    DecisionLogStore,
    OverviewStore,
):
    """Everything crmsync keeps, behind one object; open with :func:`open_store`."""


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
    "DecisionRow",
    "EventRow",
    "FieldWrite",
    "InboxRow",
    "IntegrationRow",
    "LinkRow",
    "RecordErrorRow",
    "RunRecord",
    "StateStore",
    "dry_run_store",
    "is_secret_setting",
    "open_store",
]
