"""Finding installed connectors through the ``crmsync.connectors`` entry-point group."""

from __future__ import annotations

import importlib.metadata as metadata
import inspect
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from crmsync.contract import CONTRACT_VERSION, REQUIRED_HOOKS, ConnectorDescription
from crmsync.errors import ConfigurationError, ConnectorLoadError, ContractError

ENTRY_POINT_GROUP = "crmsync.connectors"
EXTENSION_GROUP = "crmsync.extensions"
"""Entry points of plugins registered beside the connector in every connection (audit or
transform hookwrappers, say): a class, instantiated with no arguments, or a module or
instance holding ``@hookimpl`` functions."""


@dataclass(frozen=True)
class InstalledConnector:
    """A connector that loaded: its class, description and the distribution that ships
    it.
    """

    id: str
    factory: Any
    description: ConnectorDescription
    distribution: str | None
    version: str | None


@dataclass(frozen=True)
class ConnectorFailure:
    """A connector that is installed but could not be loaded, with the reason."""

    id: str
    distribution: str | None
    version: str | None
    error: str


@dataclass(frozen=True)
class ConnectorCatalog:
    """Every connector found: those that loaded and those that failed."""

    loaded: dict[str, InstalledConnector] = field(default_factory=dict)
    failed: dict[str, ConnectorFailure] = field(default_factory=dict)

    def get(self, connector_id: str) -> InstalledConnector:
        """The loaded connector ``connector_id``, or a clear error naming what is
        available.
        """
        if connector_id in self.loaded:
            return self.loaded[connector_id]
        if connector_id in self.failed:
            raise ConnectorLoadError(connector_id, self.failed[connector_id].error)
        known = ", ".join(sorted(self.loaded)) or "none"
        raise ConfigurationError(
            f"unknown connector {connector_id!r}",
            hint=f"installed: {known}; install one with `pip install crmsync-<name>`",
        )


def check_contract_version(connector_id: str, declared: str) -> None:
    """Refuse a connector whose contract version this framework does not speak."""
    ours_major, ours_minor = (int(part) for part in CONTRACT_VERSION.split("."))
    try:
        major, minor = (int(part) for part in declared.split("."))
    except ValueError:
        raise ContractError(
            f"connector {connector_id!r} declares contract version {declared!r}, "
            "which is not of the form MAJOR.MINOR"
        ) from None
    if major != ours_major or minor > ours_minor:
        newer = (major, minor) > (ours_major, ours_minor)
        raise ContractError(
            f"connector {connector_id!r} needs plugin contract {declared}, "
            "but this crmsync "
            f"speaks {CONTRACT_VERSION}",
            hint="upgrade crmsync, or install a release of the connector built for "
            f"contract {CONTRACT_VERSION}"
            if newer
            else "upgrade the connector: this release was built for an older "
            f"crmsync (contract {major}.x)",
        )


def describe(connector_id: str, factory: Any) -> ConnectorDescription:
    """Ask a connector class for its description and check it against the contract."""
    missing = [
        name for name in REQUIRED_HOOKS if not callable(getattr(factory, name, None))
    ]
    if missing:
        raise ContractError(
            f"connector {connector_id!r} lacks required hooks: {', '.join(missing)}"
        )
    if not isinstance(
        inspect.getattr_static(factory, "describe_connector", None), staticmethod
    ) and not inspect.ismodule(factory):
        # It is called on the class, before any instance (and its settings) exists.
        raise ContractError(
            f"connector {connector_id!r}: describe_connector must be a staticmethod",
            hint="decorate it with @staticmethod (and @hookimpl)",
        )
    try:
        description = factory.describe_connector()
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ContractError(
            f"connector {connector_id!r} gave an invalid description: "
            f"{where + ': ' if where else ''}{first['msg']}"
        ) from None
    if not isinstance(description, ConnectorDescription):
        raise ContractError(
            f"connector {connector_id!r} did not return a ConnectorDescription"
        )
    if description.id != connector_id:
        raise ContractError(
            f"connector registered as {connector_id!r} describes itself as "
            f"{description.id!r}",
            hint="the entry-point name must equal ConnectorDescription.id",
        )
    check_contract_version(connector_id, description.contract_version)
    return description


def discover_connectors() -> ConnectorCatalog:
    """Load every installed connector; a broken one is recorded, never fatal to the
    others.
    """
    catalog = ConnectorCatalog()
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        dist_name = dist.metadata["Name"] if dist is not None else None
        dist_version = dist.version if dist is not None else None
        try:
            factory = entry_point.load()
            description = describe(entry_point.name, factory)
        except Exception as error:  # any import-time failure must stay a status line
            reason = (
                str(error)
                if isinstance(error, ContractError)
                else (f"{type(error).__name__}: {error}")
            )
            catalog.failed[entry_point.name] = ConnectorFailure(
                entry_point.name, dist_name, dist_version, reason
            )
            continue
        catalog.loaded[entry_point.name] = InstalledConnector(
            entry_point.name, factory, description, dist_name, dist_version
        )
    return catalog


@dataclass(frozen=True)
class Extensions:
    """Extension plugins that loaded, and those that failed with their reason."""

    plugins: dict[str, object] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def discover_extensions() -> Extensions:
    """Load every ``crmsync.extensions`` entry point; a broken one is only recorded."""
    found = Extensions()
    for entry_point in metadata.entry_points(group=EXTENSION_GROUP):
        try:
            loaded = entry_point.load()
            plugin = loaded() if isinstance(loaded, type) else loaded
        except Exception as error:  # an extension must never take crmsync down
            found.failed[entry_point.name] = f"{type(error).__name__}: {error}"
            continue
        found.plugins[entry_point.name] = plugin
    return found
