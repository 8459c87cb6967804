"""crmsync's contract kit against the Zoho connector and its in-process emulator.

With ``CRMSYNC_ZOHO_LIVE=1`` and ``CRMSYNC_ZOHO_*`` settings in the environment the
read-only loading checks run against a real org too (marked ``live``).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pytest

from crmsync.testing import ConnectorContract, Fault, SandboxBase, SandboxUnsupported
from crmsync_zoho import ZohoConnector, ZohoSettings
from crmsync_zoho.emulator import ZohoEmulator

from .conftest import CLIENT_ID, CLIENT_SECRET, make_emulator

# What each hook calls: field metadata, the module's list read, COQL, the module's writes.
HOOK_FAULTS: dict[str, dict[str, Any]] = {
    "list_fields": {"path_contains": "/settings/fields"},
    "fetch_changed": {"path_contains": "/crm/v8/{object}", "method": "GET"},
    "lookup_records": {"path_contains": "/coql"},
    "push_updates": {"path_contains": "/crm/v8/{object}", "writes_only": True},
}


def _person(object_name: str, index: int, tag: str = "") -> dict[str, Any]:
    record = {"First_Name": "Pat", "Last_Name": f"Tester{index}",
              "Email": f"person{index}{tag}@example.com"}
    if object_name == "Leads":
        record["Company"] = "Acme"
    return record


class ZohoSandbox(SandboxBase):
    """The emulated org. ``Modified_Time`` has whole seconds, so unless
    :meth:`freeze_clock` is active every seeded record gets its own second."""

    page_size = 2
    match_field = "Email"

    def __init__(self, object_name: str = "Leads") -> None:
        self.object_name = object_name
        self.emulator, refresh = make_emulator()
        self._tied = False
        # Vendor pages of 2 records too, so ties straddle Zoho's own page boundaries.
        self.settings: Mapping[str, Any] = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": refresh,
            "page_size": 2,
            "deletions_every": 0,
        }
        self.factory_kwargs: Mapping[str, Any] = {
            "transport": self.emulator.transport(),
            "clock": self.emulator.clock.timestamp,
        }

    def new_record(self, index: int) -> dict[str, Any]:
        return _person(self.object_name, index)

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        ids: list[str] = []
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
        self.emulator.delete(object_name, record_id)

    def expire_credentials(self) -> None:
        self.emulator.expire_tokens()

    def refuse_credentials(self) -> None:
        # The self client's secret is regenerated in the API console.
        self.emulator.register_client(CLIENT_ID, f"rotated-{uuid.uuid4().hex}")

    def inject(self, fault: Fault, *, hook: str) -> None:
        where = HOOK_FAULTS.get(hook)
        if where is None:
            raise SandboxUnsupported(f"no emulator route is known for hook {hook!r}")
        options = dict(where)
        options["path_contains"] = str(options["path_contains"]).format(
            object=self.object_name)
        self.emulator.faults.inject(fault, **options)


class TestZohoContract(ConnectorContract):
    """The emulated org, once per person object the connector declares."""

    connector_id = "zoho"
    connector_class = ZohoConnector

    @pytest.fixture(params=["Leads", "Contacts"])
    def sandbox(self, request: pytest.FixtureRequest) -> ZohoSandbox:
        return ZohoSandbox(request.param)


def test_sandbox_emulator_is_the_kits() -> None:
    from crmsync.testing.emulator import EmulatorBase

    assert isinstance(ZohoEmulator(), EmulatorBase)


class LiveZohoSandbox(SandboxBase):
    """A real org (``CRMSYNC_ZOHO_*`` settings from the environment). Seeds and deletes
    through the connection's own HTTP session (not its hooks), and deletes every record
    whose email carries this run's tag when the check ends."""

    page_size = 200
    match_field = "Email"

    def __init__(self, object_name: str = "Leads") -> None:
        self.object_name = object_name
        self.settings: Mapping[str, Any] = {}
        self.factory_kwargs: Mapping[str, Any] = {}
        self._tag = "." + uuid.uuid4().hex[:10]
        self._admin = ZohoConnector(settings=ZohoSettings())  # type: ignore[call-arg]
        self._admin.authenticate()

    def new_record(self, index: int) -> dict[str, Any]:
        return _person(self.object_name, index, self._tag)

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(records), 100):
            chunk = [dict(r) for r in records[start:start + 100]]
            response = self._admin.http.request(
                "POST", self._admin._url(object_name), json={"data": chunk, "trigger": []},
                write=True, idempotent=False)
            for entry in response.json()["data"]:
                if entry.get("status") != "success":
                    raise RuntimeError(f"live seed refused: {entry}")
                ids.append(str(entry["details"]["id"]))
        return ids

    def advance_clock(self, seconds: float = 1.0) -> None:
        time.sleep(max(1.0, seconds) + 0.1)  # Modified_Time counts whole seconds

    def delete(self, object_name: str, record_id: str) -> None:
        self._admin.http.request("DELETE", self._admin._url(object_name),
                                 params={"ids": record_id}, write=True)

    def close(self) -> None:
        query = (f"select id from {self.object_name} where Email like "
                 f"'%{self._tag}@example.com' limit 200")
        response = self._admin.http.request("POST", self._admin._url("coql"),
                                            json={"select_query": query})
        ids = [row["id"] for row in (response.json().get("data") or [])
               ] if response.status_code == 200 else []
        for start in range(0, len(ids), 100):
            self._admin.http.request("DELETE", self._admin._url(self.object_name),
                                     params={"ids": ",".join(ids[start:start + 100])},
                                     write=True)
        self._admin.close()


LIVE = os.environ.get("CRMSYNC_ZOHO_LIVE") == "1"


def _live_configured() -> bool:
    try:
        ZohoSettings()  # type: ignore[call-arg]
    except ValueError:
        return False
    return True


@pytest.mark.live
@pytest.mark.skipif(not LIVE, reason="set CRMSYNC_ZOHO_LIVE=1 (and CRMSYNC_ZOHO_*) to run")
class TestZohoLiveContract(ConnectorContract):
    """A real org, with the credentials a deployment would use."""

    connector_id = "zoho"
    connector_class = ZohoConnector

    @pytest.fixture(params=["Leads", "Contacts"])
    def sandbox(self, request: pytest.FixtureRequest) -> Iterator[LiveZohoSandbox]:
        if not _live_configured():
            pytest.skip("CRMSYNC_ZOHO_* credentials are not set or incomplete")
        sandbox = LiveZohoSandbox(request.param)
        yield sandbox
        sandbox.close()


@pytest.mark.live
@pytest.mark.skipif(not LIVE, reason="set CRMSYNC_ZOHO_LIVE=1 (and CRMSYNC_ZOHO_*) to run")
def test_live_org_lists_fields_and_reads_a_page() -> None:
    connector = ZohoConnector(settings=ZohoSettings())  # type: ignore[call-arg]
    try:
        connector.authenticate()
        for module in ("Leads", "Contacts"):
            names = {spec.name for spec in connector.list_fields(module)}
            assert {"Last_Name", "Email"} <= names
            connector.fetch_changed(module, ["Email"], None, None, 10)
    finally:
        connector.close()
