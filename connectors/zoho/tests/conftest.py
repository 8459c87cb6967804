"""Shared fixtures: an emulated Zoho org in-process and a connector pointed at it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from crmsync_zoho import ZohoConnector, ZohoSettings
from crmsync_zoho.emulator import ZohoEmulator

CLIENT_ID = "1000.TESTCLIENT00000000000000000000"
CLIENT_SECRET = "zoho-test-client-s3cret-value"
FROZEN = dt.datetime(2024, 9, 3, 6, 0, 0, tzinfo=dt.UTC)


def make_emulator(**options: Any) -> tuple[ZohoEmulator, str]:
    """An org with one self client; returns it and the client's refresh token."""
    emulator = ZohoEmulator(**options)
    emulator.register_client(CLIENT_ID, CLIENT_SECRET)
    emulator.clock.freeze(FROZEN)
    return emulator, emulator.issue_refresh_token(CLIENT_ID)


def make_settings(refresh_token: str, **overrides: Any) -> ZohoSettings:
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": refresh_token,
        "deletions_every": 0,
    }
    values.update(overrides)
    return ZohoSettings(**values)


@pytest.fixture
def emulator_and_token() -> tuple[ZohoEmulator, str]:
    return make_emulator()


@pytest.fixture
def emulator(emulator_and_token: tuple[ZohoEmulator, str]) -> ZohoEmulator:
    return emulator_and_token[0]


@pytest.fixture
def connector(emulator_and_token: tuple[ZohoEmulator, str]) -> Iterator[ZohoConnector]:
    emulator, refresh = emulator_and_token
    conn = ZohoConnector(settings=make_settings(refresh), transport=emulator.transport(),
                         clock=emulator.clock.timestamp)
    conn.authenticate()
    yield conn
    conn.close()


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    """The CLI configures structlog for the process (its output stream included); put it
    back so that later tests do not log to a closed runner stream."""
    import structlog

    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
