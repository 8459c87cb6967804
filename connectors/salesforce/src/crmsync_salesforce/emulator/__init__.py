"""A faithful local emulator of the Salesforce REST API (auth, describe, SOQL,
Collections).

In-process::

    emulator = SalesforceEmulator()
    emulator.register_app("client-id", client_secret="s3cret")
    client = httpx.Client(transport=emulator.transport())

On a loopback port (same ``handle``)::

    with EmulatorServer(emulator) as server:
        login_url = server.url

Faults: ``emulator.faults.inject("rate_limit" | "server_error" | "slow" |
"dropped_connection" | "expired_session" | "row_lock", count=1, path_contains=None,
**options)``.
"""

from __future__ import annotations

from crmsync_salesforce.emulator._control import (
    EmulatorClock,
    Fault,
    Faults,
    LoggedRequest,
)
from crmsync_salesforce.emulator._core import SalesforceEmulator
from crmsync_salesforce.emulator._ids import is_valid_id, to_18
from crmsync_salesforce.emulator._server import EmulatorServer

__all__ = [
    "EmulatorClock",
    "EmulatorServer",
    "Fault",
    "Faults",
    "LoggedRequest",
    "SalesforceEmulator",
    "is_valid_id",
    "to_18",
]
