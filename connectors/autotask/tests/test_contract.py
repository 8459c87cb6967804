"""crmsync's contract kit against the Autotask connector and its emulator.

By default the vendor is the in-process :class:`AutotaskEmulator`, reached through the
connector's HTTP seam. With ``CRMSYNC_AUTOTASK_LIVE=1`` and the settings in the
environment (``CRMSYNC_AUTOTASK_*``) the checks that need no vendor control run
against a real tenant (marked ``live``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pytest

from crmsync.testing import ConnectorContract, Fault, SandboxBase, SandboxUnsupported
from crmsync_autotask import AutotaskConnector, AutotaskSettings
from crmsync_autotask.emulator import OWNER_RESOURCE, AutotaskEmulator

USER = "contract.api@example.com"
SECRET = "contract-api-user-s3cret"
CODE = "CONTRACTTRACKINGIDENTIFIER0"
START = dt.datetime(2025, 3, 1, 6, 0, 0, tzinfo=dt.UTC)

# Which emulator paths a hook's calls reach.
HOOK_PATHS = {
    "list_fields": "/entityInformation",
    "fetch_changed": "/query",
    "lookup_records": "/query",
    "push_updates": "/Contacts",
}


class AutotaskSandbox(SandboxBase):
    """The emulated tenant; its clock moves one millisecond per seeded record."""

    page_size = 2
    match_field = "emailAddress"

    def __init__(self, object_name: str = "Contacts") -> None:
        self.object_name = object_name
        self.emulator = AutotaskEmulator()
        self.emulator.add_api_user(USER, SECRET, CODE)
        self.emulator.clock.freeze(START)
        self._tied = False
        self.settings: Mapping[str, Any] = {
            "username": USER,
            "secret": SECRET,
            "integration_code": CODE,
            "company_strategy": "default_company",
            "default_company_id": self.emulator.default_company(),
            "new_company_owner_resource_id": OWNER_RESOURCE,
            # Deletions are checked on every read here (production: hourly).
            "reconcile_interval": 0,
            "page_size": 3,  # several vendor pages per read
            # authenticate() proves the credentials on every call (production: when
            # the budget reading is 15 minutes old, and after any 401).
            "threshold_poll_seconds": 0,
        }
        self.factory_kwargs: Mapping[str, Any] = {
            "transport": self.emulator.transport(),
            "clock": lambda: self.emulator.clock.now().timestamp(),
        }
        if object_name == "Companies":
            self.match_field = "companyName"

    @property
    def roundtrip_fields(self) -> Sequence[str] | None:  # type: ignore[override]
        return None

    def new_record(self, index: int) -> dict[str, Any]:
        if self.object_name == "Companies":
            return {"companyName": f"Company {index} {uuid.uuid4().hex[:6]}", "phone": "555-0100"}
        return {
            "firstName": "Pat",
            "lastName": f"Tester{index}",
            "emailAddress": f"person{index}@example.com",
        }

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        ids = []
        for record in records:
            if not self._tied:
                self.emulator.clock.advance(0.001)
            ids += self.emulator.seed(object_name, [dict(record)])
        return ids

    def advance_clock(self, seconds: float = 1.0) -> None:
        self.emulator.clock.advance(max(0.001, seconds))

    @contextlib.contextmanager
    def _frozen(self) -> Iterator[None]:
        self._tied = True
        try:
            yield
        finally:
            self._tied = False
            self.emulator.clock.advance(0.001)

    def freeze_clock(self) -> AbstractContextManager[None]:
        return self._frozen()

    def delete(self, object_name: str, record_id: str) -> None:
        # A deletion in the Autotask UI (the API deletes no company): it simply vanishes.
        self.emulator.delete(object_name, record_id)

    def expire_credentials(self) -> None:
        # Autotask has no token to expire: what goes stale is the zone (a tenant move).
        self.emulator.move_zone(self.emulator.zone + 1)

    def refuse_credentials(self) -> None:
        self.emulator.set_secret(USER, f"rotated-{uuid.uuid4().hex}")

    def inject(self, fault: Fault, *, hook: str) -> None:
        path = HOOK_PATHS.get(hook)
        if path is None:
            raise SandboxUnsupported(f"no emulator route is known for hook {hook!r}")
        if hook == "push_updates" and self.object_name == "Companies":
            path = "/Companies"
        self.emulator.faults.inject(fault, path_contains=path)


class TestAutotaskContract(ConnectorContract):
    """The emulated tenant, for contacts and for companies."""

    connector_id = "autotask"
    connector_class = AutotaskConnector

    @pytest.fixture(params=["Contacts", "Companies"])
    def sandbox(self, request: pytest.FixtureRequest) -> AutotaskSandbox:
        return AutotaskSandbox(request.param)


LIVE = os.environ.get("CRMSYNC_AUTOTASK_LIVE") == "1"


def _live_configured() -> bool:
    try:
        AutotaskSettings()  # type: ignore[call-arg]
    except ValueError:
        return False
    return True


class LiveAutotaskSandbox(SandboxBase):
    """A real tenant (``CRMSYNC_AUTOTASK_*`` from the environment, with
    ``DEFAULT_COMPANY_ID`` naming a test company).

    Seeds and deletes contacts through its own session (not the connector); every
    contact whose email carries this run's tag is deleted when the check ends. The
    tenant's clock is real time, so ``advance_clock`` waits.
    """

    page_size = 2
    match_field = "emailAddress"
    object_name = "Contacts"

    def __init__(self) -> None:
        from crmsync_autotask._client import AutotaskClient

        self.settings: Mapping[str, Any] = {"reconcile_interval": 0}
        self.factory_kwargs: Mapping[str, Any] = {}
        self._tag = uuid.uuid4().hex[:8]
        self._config = AutotaskSettings()  # type: ignore[call-arg]
        self._client = AutotaskClient(self._config)
        self._client.authenticate()
        self._company = self._config.default_company_id

    def new_record(self, index: int) -> dict[str, Any]:
        return {
            "firstName": "crmsync",
            "lastName": f"Kit{index}",
            "emailAddress": f"kit{index}.{self._tag}@example.com",
        }

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        ids = []
        for record in records:
            body = {"companyID": self._company, "isActive": 1, **record}
            answer = self._client.send(
                "POST", f"Companies/{self._company}/Contacts", entity="Contacts",
                json=body, write=True, idempotent=False,
            )
            ids.append(str(answer["itemId"]))
        return ids

    def advance_clock(self, seconds: float = 1.0) -> None:
        time.sleep(max(0.01, seconds))

    def delete(self, object_name: str, record_id: str) -> None:
        self._client.send(
            "DELETE", f"Companies/{self._company}/Contacts/{record_id}", entity="Contacts",
            write=True,
        )

    def close(self) -> None:
        body = {
            "filter": [
                {"op": "endsWith", "field": "emailAddress", "value": f".{self._tag}@example.com"}
            ],
            "IncludeFields": ["id", "companyID"],
        }
        answer = self._client.send("POST", "Contacts/query", entity="Contacts", json=body)
        for item in answer.get("items", []):
            with contextlib.suppress(Exception):
                self._client.send(
                    "DELETE", f"Companies/{item['companyID']}/Contacts/{item['id']}",
                    entity="Contacts", write=True,
                )
        self._client.close()


@pytest.mark.live
@pytest.mark.skipif(not LIVE, reason="set CRMSYNC_AUTOTASK_LIVE=1 to run against a tenant")
class TestAutotaskLiveContract(ConnectorContract):
    connector_id = "autotask"
    connector_class = AutotaskConnector

    @pytest.fixture
    def sandbox(self) -> Iterator[LiveAutotaskSandbox]:
        if not _live_configured():
            pytest.skip("CRMSYNC_AUTOTASK_* settings are not set or incomplete")
        sandbox = LiveAutotaskSandbox()
        yield sandbox
        sandbox.close()
