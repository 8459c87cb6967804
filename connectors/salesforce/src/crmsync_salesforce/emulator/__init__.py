"""A faithful local emulator of the Salesforce REST API (auth, describe, SOQL,
Collections).

In-process::

    emulator = SalesforceEmulator()
    emulator.register_app("client-id", client_secret="s3cret")
    client = httpx.Client(transport=emulator.transport())

On a loopback port (same ``handle``)::

    with EmulatorServer(emulator) as server:
        login_url = server.url

Faults, named as the contract kit names them (:mod:`crmsync.testing.emulator`):
``emulator.faults.inject("rate_limit" | "transient" | "expired" | "permanent" | "slow" |
"dropped_connection" | "row_lock", count=1, path_contains=None, **options)``; the
older ``server_error``, ``expired_session`` and ``bad_request`` still work.
"""

from __future__ import annotations

from crmsync.testing.emulator import EmulatorClock, EmulatorServer, LoggedRequest
from crmsync_salesforce.emulator._core import SalesforceEmulator
from crmsync_salesforce.emulator._faults import SalesforceFaults
from crmsync_salesforce.emulator._ids import is_valid_id, to_18
from crmsync_salesforce.emulator._served import ServedSalesforce, serve

__all__ = [
    "EmulatorClock",
    "EmulatorServer",
    "LoggedRequest",
    "SalesforceEmulator",
    "SalesforceFaults",
    "ServedSalesforce",
    "is_valid_id",
    "serve",
    "to_18",
]
