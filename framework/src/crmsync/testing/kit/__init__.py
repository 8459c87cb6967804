"""The contract test kit's checks, one module per area, composed into
``ConnectorContract``."""

from __future__ import annotations

from crmsync.testing.kit._conform import ConformityChecks
from crmsync.testing.kit._faults import FaultChecks
from crmsync.testing.kit._feed import FeedChecks
from crmsync.testing.kit._loading import LoadingChecks
from crmsync.testing.kit._missing import MissingChecks
from crmsync.testing.kit._sandbox import (
    Fault,
    ManualClock,
    Sandbox,
    SandboxBase,
    SandboxMemberMissing,
    SandboxUnsupported,
)
from crmsync.testing.kit._values import ValueChecks
from crmsync.testing.kit._writes import WriteChecks


class ConnectorContract(
    LoadingChecks,
    FeedChecks,
    WriteChecks,
    ValueChecks,
    ConformityChecks,
    FaultChecks,
    MissingChecks,
):
    """Every check of the plugin contract, for a connector's own test suite.

    Subclass it in a ``Test*`` class, set ``connector_id`` and provide a ``sandbox``
    fixture::

        from crmsync.testing import ConnectorContract

        class TestAcmeContract(ConnectorContract):
            connector_id = "acme"

            @pytest.fixture
            def sandbox(self):
                return AcmeSandbox()

    Checks for capabilities the connector does not declare, or that need a sandbox
    member that raises :class:`SandboxUnsupported` (the vendor cannot), are skipped
    with the reason; a check whose sandbox member is not implemented at all
    (:class:`SandboxMemberMissing`, :class:`SandboxBase`'s default) fails, saying how
    to add it. A failure names the contract rule that was broken.
    """


__all__ = [
    "ConnectorContract",
    "Fault",
    "ManualClock",
    "Sandbox",
    "SandboxBase",
    "SandboxMemberMissing",
    "SandboxUnsupported",
]
