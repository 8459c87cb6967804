"""crmsync's contract kit against the Salesforce connector.

By default the vendor is the in-process :class:`SalesforceEmulator`, reached through the
connector's HTTP seam (``factory_kwargs={"transport": emulator.transport()}``). With
``CRMSYNC_SALESFORCE_LIVE=1`` and credentials in the environment
(``CRMSYNC_SALESFORCE_*``, as for production), the same checks run against a real org;
those runs are marked ``live`` and excluded by default (``pytest -m live
connectors/salesforce`` runs them).
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

import httpx
import pytest

from crmsync.testing import ConnectorContract, Fault, SandboxBase, SandboxUnsupported
from crmsync_salesforce import SalesforceConnector, SalesforceSettings
from crmsync_salesforce.emulator import SalesforceEmulator
from crmsync_salesforce.emulator._schema import SCHEMAS, describe_json

LOGIN = "https://emulator.my.salesforce.com"
CLIENT_ID = "3MVG9crmsync.contract.client"
CLIENT_SECRET = "contract-kit-client-s3cret-value"
START = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)

# Which emulator requests a connector hook makes: describe for list_fields, (queryAll and
# its /query/<locator> pages) for fetch_changed, /query for lookup_records,
# sObject Collections for push_updates.
HOOK_PATHS = {
    "list_fields": "/describe",
    "fetch_changed": "/query",
    "lookup_records": "/query",
    "push_updates": "/composite/sobjects",
}


def _person(object_name: str, index: int, tag: str = "") -> dict[str, Any]:
    record = {
        "FirstName": "Pat",
        "LastName": f"Tester{index}",
        "Email": f"person{index}{tag}@example.com",
    }
    if object_name == "Lead":
        record["Company"] = "Acme"
    return record


def roundtrip_fields(describe: Mapping[str, Any]) -> list[str]:
    """The fields the kit's round trip may write: every writable one but those that may
    not be cleared (``nillable`` false: ``Status``, ``OwnerId``; the kit writes a blank to
    each field not required on create, and Salesforce refuses null there: README,
    "Clearing a field"), and whole-number decimals (``AnnualRevenue``, scale 0), which keep
    the kit's 1234.5 as 1235: Salesforce rounds to the field's scale."""
    whole = {"double", "currency", "percent"}
    return [
        str(f["name"])
        for f in describe["fields"]
        if f["updateable"]
        and not f["calculated"]
        and (f["nillable"] or f["type"] == "boolean")
        and not (f["type"] in whole and f["precision"] and not f["scale"])
    ]


class SalesforceSandbox(SandboxBase):
    """The emulated org: seeded directly, its clock driven second by second.

    SystemModstamp has second precision, so unless :meth:`freeze_clock` is active every
    seeded record gets its own second (the emulator's clock stays frozen between steps
    and the sandbox moves it), and writes through the connector share the current
    second.
    """

    page_size = 2
    match_field = "Email"

    def __init__(self, object_name: str = "Lead") -> None:
        self.object_name = object_name
        self.emulator = SalesforceEmulator()
        self.emulator.register_app(CLIENT_ID, client_secret=CLIENT_SECRET)
        self.emulator.clock.freeze(START)
        # Salesforce's batchSize floor is 200; the emulator's test knob serves smaller pages,
        # as a real org may (batchSize is a hint), so every check reads several pages.
        self.emulator.server_page_limit = self.page_size
        self._tied = False
        self.settings: Mapping[str, Any] = {
            "login_url": LOGIN,
            "auth_flow": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        self.factory_kwargs: Mapping[str, Any] = {
            "transport": self.emulator.transport(),
            # The org's clock, so the connector's "now" (the deletion sweep) is the org's.
            "clock": lambda: self.emulator.clock.now().timestamp(),
        }

    @property
    def roundtrip_fields(self) -> list[str]:  # type: ignore[override]
        return roundtrip_fields(describe_json(SCHEMAS[self.object_name.lower()], "v60.0"))

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
        self.emulator.clock.advance(max(1.0, seconds))  # SystemModstamp counts whole seconds

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

    def purge(self, object_name: str, record_id: str) -> None:
        self.emulator.delete(object_name, record_id)
        self.emulator.purge_recycle_bin(object_name)

    def expire_credentials(self) -> None:
        self.emulator.expire_sessions()

    def refuse_credentials(self) -> None:
        # The connected app's secret is rotated: the connection's secret is now wrong.
        self.emulator.register_app(CLIENT_ID, client_secret=f"rotated-{uuid.uuid4().hex}")

    def inject(self, fault: Fault, *, hook: str) -> None:
        path = HOOK_PATHS.get(hook)
        if path is None:
            raise SandboxUnsupported(f"no emulator route is known for hook {hook!r}")
        # The emulator speaks the kit's fault names; a rate limit is the documented
        # daily/concurrency answer, 403 REQUEST_LIMIT_EXCEEDED without Retry-After.
        self.emulator.faults.inject(fault, path_contains=path)


class LiveSalesforceSandbox(SandboxBase):
    """A real org (``CRMSYNC_SALESFORCE_*`` settings from the environment).

    Seeds and deletes with its own session through the REST API (not the connector), and
    deletes every record whose email carries this run's tag when the check ends.
    """

    page_size = 200  # Salesforce's smallest batchSize; the feed checks then read one page
    match_field = "Email"

    def __init__(self, object_name: str = "Lead") -> None:
        self.object_name = object_name
        self.settings: Mapping[str, Any] = {}
        self.factory_kwargs: Mapping[str, Any] = {}
        self._tag = "." + uuid.uuid4().hex[:10]
        self._config = SalesforceSettings()  # type: ignore[call-arg]
        # Its own session, through the connector's auth object (not the connector's calls).
        session = SalesforceConnector(self._config)
        session.authenticate()
        token = session.auth.ensure_token()
        session.close()
        self._client = httpx.Client(timeout=self._config.timeout)
        self._base = f"{token.extra['instance_url']}/services/data/{self._config.api_version}"
        self._client.headers["Authorization"] = f"Bearer {token.access_token}"

    @property
    def roundtrip_fields(self) -> list[str]:  # type: ignore[override]
        response = self._client.get(f"{self._base}/sobjects/{self.object_name}/describe")
        response.raise_for_status()
        return roundtrip_fields(response.json())

    def new_record(self, index: int) -> dict[str, Any]:
        return _person(self.object_name, index, self._tag)

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(records), 200):
            chunk = records[start : start + 200]
            response = self._client.post(
                f"{self._base}/composite/sobjects",
                json={
                    "allOrNone": True,
                    "records": [{"attributes": {"type": object_name}, **r} for r in chunk],
                },
            )
            response.raise_for_status()
            items = response.json()
            if not all(item.get("success") for item in items):
                raise RuntimeError(f"live seed refused: {items}")
            ids += [str(item["id"]) for item in items]
        return ids

    def advance_clock(self, seconds: float = 1.0) -> None:
        time.sleep(max(1.0, seconds) + 0.1)  # SystemModstamp counts whole seconds

    def freeze_clock(self) -> AbstractContextManager[None]:
        raise SandboxUnsupported("a real org's clock cannot be frozen")

    def inject(self, fault: Fault, *, hook: str) -> None:
        raise SandboxUnsupported("a real org cannot be made to fail on demand")

    def expire_credentials(self) -> None:
        raise SandboxUnsupported("the live sandbox does not hold the connection's session")

    def refuse_credentials(self) -> None:
        raise SandboxUnsupported("a real org's credentials are not revoked by a test")

    def delete(self, object_name: str, record_id: str) -> None:
        self._client.delete(f"{self._base}/sobjects/{object_name}/{record_id}").raise_for_status()

    def purge(self, object_name: str, record_id: str) -> None:
        raise SandboxUnsupported("emptyRecycleBin is a SOAP call this REST sandbox does not make")

    def close(self) -> None:
        soql = f"SELECT Id FROM {self.object_name} WHERE Email LIKE '%{self._tag}@example.com'"
        response = self._client.get(f"{self._base}/query", params={"q": soql})
        ids = [row["Id"] for row in response.json().get("records", [])]
        for start in range(0, len(ids), 200):
            self._client.delete(
                f"{self._base}/composite/sobjects",
                params={"ids": ",".join(ids[start : start + 200]), "allOrNone": "false"},
            )
        self._client.close()


LIVE = os.environ.get("CRMSYNC_SALESFORCE_LIVE") == "1"


def _live_configured() -> bool:
    try:
        SalesforceSettings()  # type: ignore[call-arg]
    except ValueError:
        return False
    return True


class TestSalesforceContract(ConnectorContract):
    """The emulated org, once per person object the connector declares."""

    connector_id = "salesforce"
    connector_class = SalesforceConnector

    @pytest.fixture(params=["Lead", "Contact"])
    def sandbox(self, request: pytest.FixtureRequest) -> SalesforceSandbox:
        return SalesforceSandbox(request.param)


@pytest.mark.live
@pytest.mark.skipif(not LIVE, reason="set CRMSYNC_SALESFORCE_LIVE=1 to run against a real org")
class TestSalesforceLiveContract(ConnectorContract):
    """A real org, with the credentials a deployment would use."""

    connector_id = "salesforce"
    connector_class = SalesforceConnector

    @pytest.fixture(params=["Lead", "Contact"])
    def sandbox(self, request: pytest.FixtureRequest) -> Iterator[LiveSalesforceSandbox]:
        if not _live_configured():
            pytest.skip("CRMSYNC_SALESFORCE_* credentials are not set or incomplete")
        sandbox = LiveSalesforceSandbox(request.param)
        yield sandbox
        sandbox.close()
