"""The emulator kit: what every vendor emulator shares, written once.

::

    from crmsync.testing.emulator import EmulatorBase, route, json_response, ...

    class AcmeEmulator(EmulatorBase):
        vendor = "Acme CRM"

        @route("GET", r"/api/v1/(?P<module>\\w+)")
        def list_records(self, request, module): ...

* :class:`EmulatorBase`: route table, :class:`EmulatorClock`, :class:`FaultQueue`
  speaking the contract kit's fault names, :class:`RequestLog`, ``handle`` and
  ``transport()``.
* :class:`EmulatorServer`: any emulator on a loopback port.
* :class:`OAuthTokenEndpoint`: an emulated token endpoint.
* :class:`DemoField`, :class:`ServedEmulator`: what an emulator offers the demo and
  ``crmsync emulator <id>`` (``ConnectorDescription.emulator``, contract 1.1).
* :func:`fake_people`: deterministic fake people (the demo's prospects, a seed).
"""

from __future__ import annotations

from crmsync.testing.emulator._base import EmulatorBase, json_response, route
from crmsync.testing.emulator._clock import EmulatorClock
from crmsync.testing.emulator._demo import (
    DEMO_PLATFORM_FIELDS,
    DemoField,
    ServedEmulator,
    ServedOnLoopback,
    ServeFactory,
)
from crmsync.testing.emulator._faults import (
    STANDARD_FAULTS,
    ArmedFault,
    FaultName,
    FaultQueue,
)
from crmsync.testing.emulator._log import LoggedRequest, RequestLog
from crmsync.testing.emulator._oauth import (
    JWT_BEARER_GRANT,
    Grant,
    OAuthClient,
    OAuthTokenEndpoint,
)
from crmsync.testing.emulator._people import PICKLIST_FIELDS, fake_people
from crmsync.testing.emulator._server import EmulatorServer

__all__ = [
    "DEMO_PLATFORM_FIELDS",
    "JWT_BEARER_GRANT",
    "PICKLIST_FIELDS",
    "STANDARD_FAULTS",
    "ArmedFault",
    "DemoField",
    "EmulatorBase",
    "EmulatorClock",
    "EmulatorServer",
    "FaultName",
    "FaultQueue",
    "Grant",
    "LoggedRequest",
    "OAuthClient",
    "OAuthTokenEndpoint",
    "RequestLog",
    "ServeFactory",
    "ServedEmulator",
    "ServedOnLoopback",
    "fake_people",
    "json_response",
    "route",
]
