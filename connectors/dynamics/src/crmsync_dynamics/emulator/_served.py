"""``serve()``: the emulator on a loopback port, for ``crmsync demo --crm dynamics`` and
``crmsync emulator dynamics`` (``ConnectorDescription.emulator``)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from crmsync.testing.emulator import DemoField, EmulatorServer
from crmsync_dynamics.emulator._core import DEFAULT_TENANT, DataverseEmulator
from crmsync_dynamics.emulator._schema import SCHEMAS

__all__ = ["DEMO_FIELDS", "ServedDataverse", "serve"]

DEMO_CLIENT_ID = "00000000-0000-0000-0000-00000000c0de"
DEMO_FIELDS = (
    DemoField("email", "emailaddress1", "sync"),
    DemoField("first_name", "firstname", "sync"),
    DemoField("last_name", "lastname", "sync", default="[not provided]"),
    DemoField("phone", "telephone1", "sync"),
    DemoField("title", "jobtitle", "to_crm"),
    DemoField("company", "companyname", "to_crm", objects=("lead",)),
    DemoField("lead_source", "leadsourcecode", "to_platform", objects=("lead",)),
    DemoField("opted_out", "donotemail", "sync"),
)


class ServedDataverse:
    """A :class:`DataverseEmulator` answering on ``url`` until :meth:`stop`."""

    demo_fields = DEMO_FIELDS

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = DataverseEmulator()
        self._server = EmulatorServer(self.emulator, host, port, name="dataverse-emulator")
        self.url = self._server.url
        self.emulator.org_url = self.url
        self.emulator.authority = self.url
        secret = secrets.token_urlsafe(24)
        self.emulator.register_app(DEMO_CLIENT_ID, client_secret=secret)
        self.settings: Mapping[str, Any] = {
            "environment_url": self.url,
            "authority_host": self.url,
            "tenant_id": DEFAULT_TENANT,
            "client_id": DEMO_CLIENT_ID,
            "auth": "client_secret",
            "client_secret": secret,
        }
        self._server.start()

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Create rows (column names; choices by label or value); a lead gets a topic
        when none is given."""
        return self.emulator.seed(object_name, [_values(object_name, r) for r in records])

    def edit(self, object_name: str, record_id: str, values: Mapping[str, Any]) -> None:
        """An edit by a CRM user, stamped with the emulator's clock."""
        self.emulator.edit(object_name, record_id, _values(object_name, values))

    def get(self, object_name: str, record_id: str) -> Mapping[str, Any]:
        return self.emulator.get(object_name, record_id) or {}

    def stop(self) -> None:
        self._server.stop()


def _values(object_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Choice labels (what the demo knows) as their option values (what Dataverse
    takes); anything else unchanged."""
    table = SCHEMAS.get(object_name.lower())
    out = dict(values)
    if table is None:
        return out
    for name, value in values.items():
        column = table.column(name)
        if column is not None and column.options and isinstance(value, str):
            by_label = {label.casefold(): number for number, label in column.options}
            if value.strip().casefold() in by_label:
                out[name] = by_label[value.strip().casefold()]
    return out


def serve(*, host: str = "127.0.0.1", port: int = 0) -> ServedDataverse:
    """Start the emulator on a loopback port (``port=0``: a free one)."""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise ValueError("the Dataverse emulator serves on a loopback address only")
    return ServedDataverse(host, port)
