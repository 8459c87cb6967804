"""Testing helpers for connector authors and for crmsync's own tests.

* :class:`ConnectorContract`: the contract test kit; subclass it with a ``sandbox``
  fixture.
* :class:`Sandbox` / :class:`SandboxBase`: what the kit needs from the vendor side.
* :class:`ManualClock`: a controllable clock for emulators.
* :class:`LocalSandbox`, :class:`MemorySandbox`: sandboxes for the connectors crmsync
  ships.
* :mod:`crmsync.testing.memory`: the in-memory reference connector.
"""

from __future__ import annotations

from crmsync.testing.kit import (
    ConnectorContract,
    Fault,
    ManualClock,
    Sandbox,
    SandboxBase,
    SandboxMemberMissing,
    SandboxUnsupported,
)
from crmsync.testing.sandboxes import LocalSandbox, MemorySandbox

__all__ = [
    "ConnectorContract",
    "Fault",
    "LocalSandbox",
    "ManualClock",
    "MemorySandbox",
    "Sandbox",
    "SandboxBase",
    "SandboxMemberMissing",
    "SandboxUnsupported",
]
