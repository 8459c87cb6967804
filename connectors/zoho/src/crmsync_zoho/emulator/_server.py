"""``serve()``: the emulator on a loopback port for ``crmsync demo --crm zoho`` and
``crmsync emulator zoho`` (``ConnectorDescription.emulator``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crmsync.testing.emulator import DemoField, EmulatorServer
from crmsync_zoho.emulator._core import ZohoEmulator

__all__ = ["DEMO_CLIENT_ID", "DEMO_FIELDS", "ServedZoho", "serve"]

DEMO_CLIENT_ID = "1000.CRMSYNCDEMO0000000000000000000"
_BLANK = "[not provided]"

DEMO_FIELDS = (
    DemoField("email", "Email", "sync"),
    DemoField("first_name", "First_Name", "sync"),
    DemoField("last_name", "Last_Name", "sync", default=_BLANK),
    DemoField("phone", "Phone", "sync"),
    DemoField("title", "Designation", "to_crm", objects=("Leads",)),
    DemoField("title", "Title", "to_crm", objects=("Contacts",)),
    DemoField("company", "Company", "to_crm", default=_BLANK, objects=("Leads",)),
    DemoField("lead_source", "Lead_Source", "to_platform"),
    DemoField("opted_out", "Email_Opt_Out", "sync"),
)


class ServedZoho:
    """A running emulated org plus the settings that point a connection at it (the
    loopback port is both the accounts server and, as ``api_domain``, the API host)."""

    def __init__(self, server: EmulatorServer, emulator: ZohoEmulator,
                 settings: Mapping[str, Any]) -> None:
        self._server = server
        self.emulator = emulator
        self.url = server.url
        self.settings = dict(settings)
        self.demo_fields = DEMO_FIELDS

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        filled = []
        for record in records:
            values = dict(record)
            if not values.get("Last_Name"):
                values["Last_Name"] = _BLANK
            if object_name == "Leads" and not values.get("Company"):
                values["Company"] = _BLANK
            filled.append(values)
        return self.emulator.seed(object_name, filled)

    def edit(self, object_name: str, record_id: str, values: Mapping[str, Any]) -> None:
        self.emulator.edit(object_name, record_id, values)

    def get(self, object_name: str, record_id: str) -> Mapping[str, Any]:
        return self.emulator.get(object_name, record_id)

    def stop(self) -> None:
        self._server.stop()


def serve(*, host: str = "127.0.0.1", port: int = 0) -> ServedZoho:
    """Start an emulated org on a loopback port with a demo self client registered."""
    emulator = ZohoEmulator()
    secret = "demo-secret-" + DEMO_CLIENT_ID[-8:].lower()
    emulator.register_client(DEMO_CLIENT_ID, secret)
    refresh = emulator.issue_refresh_token(DEMO_CLIENT_ID)
    server = EmulatorServer(emulator, host, port, name="zoho-emulator").start()
    return ServedZoho(
        server,
        emulator,
        {
            "accounts_url": server.url,
            "client_id": DEMO_CLIENT_ID,
            "client_secret": secret,
            "refresh_token": refresh,
        },
    )
