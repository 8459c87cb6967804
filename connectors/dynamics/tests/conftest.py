from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from crmsync_dynamics import DynamicsConnector, DynamicsSettings
from crmsync_dynamics.emulator import DEFAULT_ORG, DEFAULT_TENANT, DataverseEmulator

CLIENT_ID = "7d5c0a52-1b1e-4a57-9c3e-0d1f2a3b4c5d"
CLIENT_SECRET = "Qx8~dynamics.test-secret-value-0123"
FROZEN = dt.datetime(2025, 3, 14, 9, 0, 0, tzinfo=dt.UTC)


def make_settings(**overrides: Any) -> DynamicsSettings:
    values: dict[str, Any] = {
        "environment_url": DEFAULT_ORG,
        "tenant_id": DEFAULT_TENANT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    values.update(overrides)
    return DynamicsSettings(**values)


@pytest.fixture
def emulator() -> DataverseEmulator:
    emu = DataverseEmulator()
    emu.register_app(CLIENT_ID, client_secret=CLIENT_SECRET)
    emu.clock.freeze(FROZEN)
    return emu


@pytest.fixture
def connector(emulator: DataverseEmulator) -> Iterator[DynamicsConnector]:
    conn = DynamicsConnector(
        settings=make_settings(),
        transport=emulator.transport(),
        clock=lambda: emulator.clock.now().timestamp(),
    )
    conn.authenticate()
    yield conn
    conn.close()
