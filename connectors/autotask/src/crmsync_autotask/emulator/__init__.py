"""A faithful local emulator of the Autotask PSA REST API (Contacts, Companies).

In-process::

    emulator = AutotaskEmulator()
    emulator.add_api_user("api@example.com", "s3cret", "TRACKINGID")
    client = httpx.Client(transport=emulator.transport())

On a loopback port: ``served = serve()`` (``served.url``, ``served.settings``,
``served.stop()``); the zone is then a path prefix of the server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crmsync.testing.emulator import DemoField, EmulatorServer
from crmsync_autotask.emulator._core import (
    FAULT_ALIASES,
    FAULTS_DOC,
    OWNER_RESOURCE,
    AutotaskEmulator,
)

__all__ = [
    "DEMO_FIELDS",
    "FAULTS_DOC",
    "FAULT_ALIASES",
    "OWNER_RESOURCE",
    "AutotaskEmulator",
    "ServedAutotask",
    "serve",
]

DEMO_USER = "crmsync.demo@emulated.example"
DEMO_SECRET = "demo-api-user-s3cret"  # a loopback emulator's own credential
DEMO_CODE = "CRMSYNCDEMOTRACKINGID000000"

DEMO_FIELDS = (
    DemoField("email", "emailAddress", "sync"),
    DemoField("first_name", "firstName", "sync", default="[not provided]"),
    DemoField("last_name", "lastName", "sync", default="[not provided]"),
    DemoField("phone", "phone", "sync"),
    DemoField("title", "title", "to_crm"),
    DemoField("company", "companyName", "to_crm"),
    DemoField("lead_source", "udf:Lead Source", "to_platform"),
)


class ServedAutotask:
    """An :class:`AutotaskEmulator` on a loopback port, with one API user and
    connection settings pointing at it (contacts find or create their company)."""

    demo_fields: tuple[DemoField, ...] = DEMO_FIELDS

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = AutotaskEmulator()
        self.emulator.add_api_user(DEMO_USER, DEMO_SECRET, DEMO_CODE)
        self._server = EmulatorServer(self.emulator, host, port, name="autotask-emulator")
        self._server.start()
        self.url = self._server.url
        self.settings: Mapping[str, Any] = {
            "username": DEMO_USER,
            "secret": DEMO_SECRET,
            "integration_code": DEMO_CODE,
            "discovery_url": f"{self.url}/atservicesrest",
            "company_strategy": "find_or_create",
            "default_company_id": self.emulator.default_company(),
            "new_company_owner_resource_id": OWNER_RESOURCE,
        }

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Records with Autotask field names; a contact without ``companyID`` joins the
        emulator's prospect company, and ``companyName`` on a contact finds or makes
        its company."""
        prepared = []
        for record in records:
            values = dict(record)
            name = values.pop("companyName", None)
            if object_name == "Contacts" and name:
                found = [
                    r["id"]
                    for r in self.emulator.records["companies"].values()
                    if r.get("companyName") == name
                ]
                values.setdefault(
                    "companyID",
                    found[0] if found else int(
                        self.emulator.seed("Companies", [{"companyName": name}])[0]
                    ),
                )
            prepared.append(values)
        return self.emulator.seed(object_name, prepared)

    def edit(self, object_name: str, record_id: str, values: Mapping[str, Any]) -> None:
        if self.emulator.clock.frozen:  # later than anything the demo did before
            self.emulator.clock.advance(0.001)
        self.emulator.edit(object_name, record_id, dict(values))

    def get(self, object_name: str, record_id: str) -> Mapping[str, Any]:
        """The record's values, UDFs flattened as the connector names them
        (``udf:<name>``) and ``companyName`` for a contact's company."""
        record = dict(self.emulator.get(object_name, record_id) or {})
        for entry in record.pop("userDefinedFields", []):
            record[f"udf:{entry['name']}"] = entry["value"]
        company = record.get("companyID")
        if object_name == "Contacts" and company is not None:
            found = self.emulator.get("Companies", company) or {}
            record["companyName"] = found.get("companyName")
        return record

    def stop(self) -> None:
        self._server.stop()


def serve(*, host: str = "127.0.0.1", port: int = 0) -> ServedAutotask:
    """The emulator on a loopback port (``ConnectorDescription.emulator``)."""
    return ServedAutotask(host=host, port=port)
