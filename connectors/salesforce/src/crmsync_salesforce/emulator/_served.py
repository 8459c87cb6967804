"""``serve()``: the emulator on a loopback port, as ``crmsync demo --crm salesforce`` and
``crmsync emulator salesforce`` use it (``ConnectorDescription.emulator``)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from crmsync.testing.emulator import DemoField, EmulatorServer
from crmsync_salesforce.emulator._core import SalesforceEmulator

__all__ = ["ServedSalesforce", "serve"]

CLIENT_ID = "3MVG9crmsync.demo.app"
DEMO_FIELDS = (
    DemoField("email", "Email", "sync"),
    DemoField("first_name", "FirstName", "sync"),
    DemoField("last_name", "LastName", "sync"),
    DemoField("phone", "Phone", "sync"),
    DemoField("opted_out", "HasOptedOutOfEmail", "sync"),
    DemoField("title", "Title", "to_crm"),
    DemoField("company", "Company", "to_crm", default="Unknown", objects=("Lead",)),
    DemoField("lead_source", "LeadSource", "to_platform"),
)


class ServedSalesforce:
    """A :class:`SalesforceEmulator` with one connected app (client credentials,
    a random secret) on a loopback port until :meth:`stop`."""

    demo_fields = DEMO_FIELDS
    create_object = "Lead"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = SalesforceEmulator()
        secret = secrets.token_hex(16)
        self.emulator.register_app(CLIENT_ID, client_secret=secret)
        self._server = EmulatorServer(self.emulator, host, port, name="salesforce-emulator")
        self._server.start()
        self.url = self._server.url
        self.settings: Mapping[str, Any] = {
            "login_url": self.url,
            "auth_flow": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": secret,
        }

    def __repr__(self) -> str:
        return f"ServedSalesforce(url={self.url!r})"

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Create leads or contacts directly; a lead without a company gets one."""
        rows = []
        for record in records:
            row = dict(record)
            if object_name.lower() == "lead" and not row.get("Company"):
                row["Company"] = "Unknown"
            if not row.get("LastName"):
                row["LastName"] = "Unknown"
            rows.append(row)
        return self.emulator.seed(object_name, rows)

    def edit(self, object_name: str, record_id: str, values: Mapping[str, Any]) -> None:
        """Change fields as a user in the org would (stamped now, in whole seconds: the
        demo waits out ``timestamp_precision_seconds`` before its CRM edits)."""
        self.emulator.touch(object_name, record_id, **values)

    def get(self, object_name: str, record_id: str) -> Mapping[str, Any]:
        return self.emulator.get(object_name, record_id)

    def stop(self) -> None:
        self._server.stop()


def serve(*, host: str = "127.0.0.1", port: int = 0) -> ServedSalesforce:
    """Start a Salesforce emulator on ``host:port`` (``0``: a free port)."""
    return ServedSalesforce(host=host, port=port)
