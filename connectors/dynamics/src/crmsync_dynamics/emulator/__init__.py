"""A faithful local emulator of the Dataverse Web API (Dynamics 365 leads and contacts)
and its Microsoft Entra ID token endpoint.

In process::

    emulator = DataverseEmulator()
    emulator.register_app("app-id", client_secret="s3cret")
    client = httpx.Client(transport=emulator.transport())

Faults (the kit's names): ``emulator.faults.inject("rate_limit" | "transient" |
"expired" | "permanent" | "dropped_connection" | "slow", count=1, path_contains=None,
**options)``; ``rate_limit`` takes ``code=`` (``0x80072322`` requests, ``0x80072321``
execution time, ``0x80072326`` concurrency) and ``retry_after=`` seconds.
"""

from __future__ import annotations

from crmsync_dynamics.emulator._core import (
    DEFAULT_AUTHORITY,
    DEFAULT_ORG,
    DEFAULT_TENANT,
    DataverseEmulator,
)
from crmsync_dynamics.emulator._served import DEMO_FIELDS, ServedDataverse, serve

__all__ = [
    "DEFAULT_AUTHORITY",
    "DEFAULT_ORG",
    "DEFAULT_TENANT",
    "DEMO_FIELDS",
    "DataverseEmulator",
    "ServedDataverse",
    "serve",
]
