"""crmsync: keep a marketing platform's prospects and a CRM's records in agreement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmsync.contract import CONTRACT_VERSION
from crmsync.errors import CrmsyncError
from crmsync.models import (
    CreationMode,
    CreationRule,
    Direction,
    Integration,
    Mapping,
    ObjectPair,
    Side,
    SourceOfTruth,
)

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers
    from crmsync.engine import CycleReport, SyncEngine, open_integration_connections
    from crmsync.logs import configure_logging
    from crmsync.plugins import discover_connectors
    from crmsync.settings import CrmsyncSettings
    from crmsync.store import StateStore, open_store

__version__ = "0.1.0"

# The runtime (engine, store, connector discovery) loads on first use, so that
# ``import crmsync`` stays light for connector packages that only need the contract.
_LAZY = {
    "SyncEngine": "crmsync.engine",
    "CycleReport": "crmsync.engine",
    "open_integration_connections": "crmsync.engine",
    "open_store": "crmsync.store",
    "StateStore": "crmsync.store",
    "CrmsyncSettings": "crmsync.settings",
    "discover_connectors": "crmsync.plugins",
    "configure_logging": "crmsync.logs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'crmsync' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "CONTRACT_VERSION",
    "CreationMode",
    "CreationRule",
    "CrmsyncError",
    "CrmsyncSettings",
    "CycleReport",
    "Direction",
    "Integration",
    "Mapping",
    "ObjectPair",
    "Side",
    "SourceOfTruth",
    "StateStore",
    "SyncEngine",
    "__version__",
    "configure_logging",
    "discover_connectors",
    "open_integration_connections",
    "open_store",
]
