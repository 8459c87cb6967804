"""What every command shares: settings, the state store, the connector catalog, output.

A :class:`CliState` lives in the click context's ``obj``. Tests (and embedders) pass
their own ``CliState(catalog=..., connector_kwargs=...)`` as ``obj`` to inject
connectors without installing them; the CLI itself builds one from the global options.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import typer
from pydantic_settings import BaseSettings
from rich.console import Console

from crmsync.cli._errors import env_file_error
from crmsync.models import Integration
from crmsync.plugins import (
    Connection,
    ConnectorCatalog,
    InstalledConnector,
    build_settings,
    discover_connectors,
)
from crmsync.settings import CrmsyncSettings
from crmsync.store import StateStore, open_store

__all__ = ["CliState", "connector_settings", "err_console", "out", "state_of"]


def connector_settings(
    installed: InstalledConnector, values: Mapping[str, Any] | None = None
) -> BaseSettings:
    """A connector's settings (``values`` over the environment and .env), or one
    :class:`ConfigurationError` line: :func:`crmsync.plugins.build_settings` names the
    variable to set; an undecodable .env is named here.
    """
    try:
        return build_settings(installed, values)
    except UnicodeDecodeError:
        raise env_file_error(
            installed.description.settings_model, f"{installed.id} settings"
        ) from None


@dataclass
class CliState:
    """Lazily opened resources of one CLI invocation.

    :param catalog: the connectors to use instead of discovering installed ones.
    :param connector_kwargs: extra constructor arguments per connector id (test seams
        such as an in-memory backend or an httpx transport; never credentials).
    :param settings: the framework settings (from the environment and global options).
    :param sleep: how ``sync --watch`` waits between cycles (a test seam).
    """

    catalog: ConnectorCatalog | None = None
    connector_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: CrmsyncSettings | None = None
    sleep: Callable[[float], None] | None = None
    _store: StateStore | None = None
    _connections: list[Connection] = field(default_factory=list)

    def get_settings(self) -> CrmsyncSettings:
        if self.settings is None:
            self.settings = CrmsyncSettings()
        return self.settings

    def get_catalog(self) -> ConnectorCatalog:
        if self.catalog is None:
            self.catalog = discover_connectors()
        return self.catalog

    def get_store(self) -> StateStore:
        if self._store is None:
            settings = self.get_settings()
            self._store = open_store(
                settings.database_url, sqlite_cache_mb=settings.sqlite_cache_mb
            )
        return self._store

    def open_connection(
        self, connector_id: str, settings: Mapping[str, Any] | None = None
    ) -> Connection:
        """A connection to ``connector_id``; closed when the command ends."""
        from crmsync.engine.runtime import open_connection

        connector_settings(self.get_catalog().get(connector_id), settings)
        connection = open_connection(
            self.get_catalog(),
            connector_id,
            settings,
            factory_kwargs=self.connector_kwargs.get(connector_id),
        )
        self._connections.append(connection)
        return connection

    def open_integration(
        self, integration: Integration
    ) -> tuple[Connection, Connection]:
        """The (platform, crm) connections of ``integration``."""
        platform = self.open_connection(
            integration.platform_connector, integration.platform_settings
        )
        crm = self.open_connection(integration.crm_connector, integration.crm_settings)
        return platform, crm

    def close(self) -> None:
        while self._connections:
            connection = self._connections.pop()
            # closing must never hide the command's own outcome
            with contextlib.suppress(Exception):
                connection.close()
        if self._store is not None:
            self._store.dispose()
            self._store = None


def state_of(ctx: typer.Context) -> CliState:
    """The invocation's :class:`CliState` (created by the root callback)."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj


def out() -> Console:
    """A console on the current stdout (looked up per call, so tests capture it)."""
    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)
