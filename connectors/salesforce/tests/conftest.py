from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crmsync_salesforce import SalesforceConnector, SalesforceSettings
from crmsync_salesforce.emulator import SalesforceEmulator

LOGIN = "https://emulator.my.salesforce.com"
CLIENT_ID = "3MVG9crmsync.test.client"
CLIENT_SECRET = "very-secret-client-value-123"
USER = "integration@example.com"
FROZEN = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def rsa_pem() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture
def emulator(rsa_pem: tuple[str, str]) -> SalesforceEmulator:
    emu = SalesforceEmulator()
    emu.register_app(CLIENT_ID, client_secret=CLIENT_SECRET, public_key=rsa_pem[1], users=[USER])
    emu.clock.freeze(FROZEN)
    return emu


def make_settings(**overrides: object) -> SalesforceSettings:
    values: dict[str, object] = {
        "login_url": LOGIN,
        "auth_flow": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    values.update(overrides)
    return SalesforceSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def connector(emulator: SalesforceEmulator) -> Iterator[SalesforceConnector]:
    # The connector reads the org's clock: "now" is the same on both sides.
    conn = SalesforceConnector(
        settings=make_settings(),
        transport=emulator.transport(),
        clock=lambda: emulator.clock.now().timestamp(),
    )
    conn.authenticate()
    yield conn
    conn.close()
