"""crmsync's contract kit against the Dynamics connector and its emulator.

The sandbox drives :class:`DataverseEmulator` through the connector's HTTP seam
(``factory_kwargs={"transport": emulator.transport()}``), once per person table and
once per change feed: change tracking on (delta tokens, deletions reported) and off
(the ``modifiedon`` watermark).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pytest

from crmsync.testing import ConnectorContract, Fault, SandboxBase, SandboxUnsupported
from crmsync_dynamics import DynamicsConnector
from crmsync_dynamics.emulator import DEFAULT_ORG, DEFAULT_TENANT, DataverseEmulator

CLIENT_ID = "0b7f4c1e-9a55-4d0e-8a1b-5c6d7e8f9a0b"
CLIENT_SECRET = "contract-kit~dynamics-s3cret-value"
START = dt.datetime(2025, 3, 14, 9, 0, 0, tzinfo=dt.UTC)
# The first emulator request of each hook (metadata is read once per connection).
HOOK_PATHS = {
    "list_fields": "/EntityDefinitions",
    "push_updates": "/$batch",
}


def _person(object_name: str, index: int) -> dict[str, Any]:
    record = {
        "firstname": "Pat",
        "lastname": f"Tester{index}",
        "emailaddress1": f"person{index}@example.com",
    }
    if object_name == "lead":
        record["subject"] = "Contract kit"
        record["companyname"] = "Acme"
    return record


class DataverseSandbox(SandboxBase):
    """The emulated org; its clock moves a second per seeded record (``modifiedon``
    has whole seconds) unless frozen."""

    page_size = 2
    match_field = "emailaddress1"

    def __init__(self, object_name: str, *, tracking: bool) -> None:
        self.object_name = object_name
        self.tracking = tracking
        self.emulator = DataverseEmulator()
        self.emulator.register_app(CLIENT_ID, client_secret=CLIENT_SECRET)
        self.emulator.clock.freeze(START)
        self.emulator.set_change_tracking(object_name, tracking)
        self._tied = False
        self.settings: Mapping[str, Any] = {
            "environment_url": DEFAULT_ORG,
            "tenant_id": DEFAULT_TENANT,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        self.factory_kwargs: Mapping[str, Any] = {"transport": self.emulator.transport()}

    def new_record(self, index: int) -> dict[str, Any]:
        return _person(self.object_name, index)

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        ids = []
        for record in records:
            if not self._tied:
                self.emulator.clock.advance(1)
            ids += self.emulator.seed(object_name, [record])
        return ids

    def advance_clock(self, seconds: float = 1.0) -> None:
        self.emulator.clock.advance(max(1.0, seconds))

    @contextlib.contextmanager
    def _frozen(self) -> Iterator[None]:
        self._tied = True
        try:
            yield
        finally:
            self._tied = False
            self.emulator.clock.advance(1)

    def freeze_clock(self) -> AbstractContextManager[None]:
        return self._frozen()

    def delete(self, object_name: str, record_id: str) -> None:
        if not self.tracking:
            # Declared per connector, reported per org: with change tracking off the
            # modifiedon feed cannot see a deletion (fact sheet 4a); the tracked runs
            # check deletions, and the README says what follows for such an org.
            raise SandboxUnsupported(
                "with change tracking off, Dataverse reports no deletions to poll"
            )
        self.emulator.delete(object_name, record_id)

    def expire_credentials(self) -> None:
        self.emulator.expire_tokens()

    def refuse_credentials(self) -> None:
        # The app's secret is rotated in Entra ID: the connection's secret is now wrong.
        self.emulator.register_app(CLIENT_ID, client_secret=f"rotated-{uuid.uuid4().hex}")

    def inject(self, fault: Fault, *, hook: str) -> None:
        table = "leads" if self.object_name == "lead" else "contacts"
        path = HOOK_PATHS.get(hook, f"/{table}")
        if hook not in HOOK_PATHS and hook not in {"fetch_changed", "lookup_records"}:
            raise SandboxUnsupported(f"no emulator route is known for hook {hook!r}")
        if fault == "transient":
            self.emulator.faults.inject("transient", path_contains=path, status=503)
        else:
            self.emulator.faults.inject(fault, path_contains=path)


class TestDynamicsContract(ConnectorContract):
    """The emulated org: leads and contacts, with and without change tracking."""

    connector_id = "dynamics"
    connector_class = DynamicsConnector

    @pytest.fixture(
        params=[("lead", True), ("contact", True), ("lead", False), ("contact", False)],
        ids=["lead-tracked", "contact-tracked", "lead-watermark", "contact-watermark"],
    )
    def sandbox(self, request: pytest.FixtureRequest) -> DataverseSandbox:
        object_name, tracking = request.param
        return DataverseSandbox(object_name, tracking=tracking)
