from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crmsync_autotask import AutotaskConnector, AutotaskSettings
from crmsync_autotask.emulator import OWNER_RESOURCE, AutotaskEmulator

USER = "api.user@example.com"
SECRET = "api-user-s3cret-value-123"
CODE = "TRACKINGIDENTIFIER0000000001"
DISCOVERY = "https://webservices.autotask.net/atservicesrest"
FROZEN = dt.datetime(2025, 3, 1, 6, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def emulator() -> AutotaskEmulator:
    emu = AutotaskEmulator()
    emu.add_api_user(USER, SECRET, CODE)
    emu.clock.freeze(FROZEN)
    return emu


def make_settings(emulator: AutotaskEmulator, **overrides: Any) -> AutotaskSettings:
    values: dict[str, Any] = {
        "username": USER,
        "secret": SECRET,
        "integration_code": CODE,
        "discovery_url": DISCOVERY,
        "company_strategy": "find_or_create",
        "new_company_owner_resource_id": OWNER_RESOURCE,
        "default_company_id": emulator.default_company(),
    }
    values.update(overrides)
    return AutotaskSettings(**values)


@pytest.fixture
def build(emulator: AutotaskEmulator) -> Iterator[Callable[..., AutotaskConnector]]:
    """``build(**setting_overrides)``: an authenticated connector on the emulator."""
    made: list[AutotaskConnector] = []

    def make(**overrides: Any) -> AutotaskConnector:
        conn = AutotaskConnector(
            settings=make_settings(emulator, **overrides),
            transport=emulator.transport(),
            clock=lambda: emulator.clock.now().timestamp(),
        )
        made.append(conn)
        conn.authenticate()
        return conn

    yield make
    for conn in made:
        conn.close()


@pytest.fixture
def settings_for(emulator: AutotaskEmulator) -> Callable[..., AutotaskSettings]:
    return lambda **overrides: make_settings(emulator, **overrides)


@pytest.fixture
def connector(emulator: AutotaskEmulator) -> Iterator[AutotaskConnector]:
    conn = AutotaskConnector(
        settings=make_settings(emulator),
        transport=emulator.transport(),
        clock=lambda: emulator.clock.now().timestamp(),
    )
    conn.authenticate()
    yield conn
    conn.close()
