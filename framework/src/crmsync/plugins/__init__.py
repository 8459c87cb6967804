"""The connector runtime: discovery through entry points, and one connection per
connector.
"""

from __future__ import annotations

from crmsync.plugins._connection import (
    CallStats,
    Connection,
    build_settings,
    locate_setting_error,
)
from crmsync.plugins._discovery import (
    ENTRY_POINT_GROUP,
    EXTENSION_GROUP,
    ConnectorCatalog,
    ConnectorFailure,
    Extensions,
    InstalledConnector,
    check_contract_version,
    describe,
    discover_connectors,
    discover_extensions,
)
from crmsync.plugins._retry import RetryPolicy, call_with_retries

__all__ = [
    "ENTRY_POINT_GROUP",
    "EXTENSION_GROUP",
    "CallStats",
    "Connection",
    "ConnectorCatalog",
    "ConnectorFailure",
    "Extensions",
    "InstalledConnector",
    "RetryPolicy",
    "build_settings",
    "call_with_retries",
    "check_contract_version",
    "describe",
    "discover_connectors",
    "discover_extensions",
    "locate_setting_error",
]
