"""What the web app holds for its whole life, and the workspace of each request.

The state store is opened once and shared (its SQLAlchemy engine pools connections
across requests); each request gets its own :class:`crmsync.operations.Workspace` for
the connections it opens, closed when the request ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from crmsync.operations import Workspace
from crmsync.plugins import ConnectorCatalog, discover_connectors
from crmsync.settings import CrmsyncSettings
from crmsync.store import StateStore, open_store

__all__ = ["Backend", "RequestWorkspace", "workspace"]


class RequestWorkspace(Workspace):
    """A workspace over the app's shared store: closing it closes the request's
    connections and leaves the store open for the next request."""

    def close(self) -> None:
        self._store = None
        super().close()


@dataclass
class Backend:
    """The app's settings, connector catalog and shared state store.

    :param connector_kwargs: extra constructor arguments per connector id (test
        seams such as an in-memory backend; never credentials).
    """

    settings: CrmsyncSettings
    catalog: ConnectorCatalog | None = None
    connector_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _store: StateStore | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get_catalog(self) -> ConnectorCatalog:
        with self._lock:
            if self.catalog is None:
                self.catalog = discover_connectors()
            return self.catalog

    def store(self) -> StateStore:
        """The shared state store, made and migrated on first use (the web app is
        where an administrator creates the first integration)."""
        with self._lock:
            if self._store is None:
                store = open_store(
                    self.settings.database_url,
                    migrate=False,
                    sqlite_cache_mb=self.settings.sqlite_cache_mb,
                )
                try:
                    store.ensure_schema(create=True)
                except BaseException:
                    store.dispose()
                    raise
                self._store = store
            return self._store

    def workspace(self) -> RequestWorkspace:
        return RequestWorkspace(
            catalog=self.get_catalog(),
            connector_kwargs=self.connector_kwargs,
            settings=self.settings,
            _store=self.store(),
        )

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.dispose()
                self._store = None


def workspace(request: Request) -> Iterator[Workspace]:
    """FastAPI dependency: the request's workspace, closed after the response."""
    backend: Backend = request.app.state.backend
    opened = backend.workspace()
    try:
        yield opened
    finally:
        opened.close()
