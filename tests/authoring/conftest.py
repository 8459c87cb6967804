"""A small vendor for the authoring kit's tests: an emulator on the emulator kit with
an OAuth token endpoint, reached through ``httpx.MockTransport``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crmsync.authoring import ConnectorHttp, ErrorMap, ErrorRule, UrlGuard
from crmsync.errors import AuthenticationExpired, PermanentError, QuotaExhausted
from crmsync.testing.emulator import (
    EmulatorBase,
    EmulatorClock,
    OAuthTokenEndpoint,
    json_response,
    route,
)

BASE = "https://api.acme.example"
TOKEN_URL = "https://login.acme.example/oauth/token"
START = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
GUARD = UrlGuard(vendor="Acme", domains=("acme.example",), allow_loopback=True)
ERRORS = ErrorMap(
    vendor="Acme",
    code=lambda body: body.get("code"),
    message=lambda body: body.get("message"),
    field=lambda body: body.get("field"),
    rules=[
        ErrorRule(code="INVALID_TOKEN", raises=AuthenticationExpired),
        ErrorRule(code="LIMIT", message_contains="daily", raises=QuotaExhausted),
        ErrorRule(code="NO_SCOPE", raises=PermanentError, hint="grant the scope"),
    ],
    request_id_headers=("x-acme-request",),
)


class AcmeEmulator(EmulatorBase):
    vendor = "Acme"
    extra_faults = ("row_lock",)

    def __init__(self) -> None:
        super().__init__(clock=EmulatorClock(START))
        self.oauth = OAuthTokenEndpoint(
            self.clock,
            lifetime=3600,
            answer_extra=lambda request, client: {"api_domain": BASE},
        )
        self.created: list[dict[str, Any]] = []

    @route("POST", r"/oauth/token", faults="explicit")
    def token(self, request: httpx.Request) -> httpx.Response:
        return self.oauth.handle(request)

    def _authorized(self, request: httpx.Request) -> bool:
        return self.oauth.validate(request.headers.get("Authorization")) is not None

    @route("GET", r"/v1/(?P<module>\w+)")
    def list_records(self, request: httpx.Request, module: str) -> httpx.Response:
        if not self._authorized(request):
            return json_response(401, {"code": "INVALID_TOKEN", "message": "expired"})
        return json_response(
            200, {"module": module, "data": []}, {"x-acme-request": "req-1"}
        )

    @route("POST", r"/v1/(?P<module>\w+)")
    def create(self, request: httpx.Request, module: str) -> httpx.Response:
        if not self._authorized(request):
            return json_response(401, {"code": "INVALID_TOKEN", "message": "expired"})
        self.created.append({"module": module, "body": request.read()})
        return json_response(201, {"id": str(len(self.created))})

    def expire_session(self, request: httpx.Request) -> None:
        self.oauth.expire_all()

    def expired_response(self, fault: Any, request: httpx.Request) -> httpx.Response:
        return json_response(401, {"code": "INVALID_TOKEN", "message": "expired"})

    def fault_row_lock(self, fault: Any, request: httpx.Request) -> httpx.Response:
        return json_response(409, {"code": "LOCKED", "message": "row locked"})


@pytest.fixture
def emulator() -> AcmeEmulator:
    emu = AcmeEmulator()
    emu.oauth.register_client("app", secret="s3cret-value-of-app")
    return emu


def make_http(
    emulator: AcmeEmulator, auth: httpx.Auth | None, **options: Any
) -> ConnectorHttp:
    return ConnectorHttp(
        connector="acme",
        base_url=BASE,
        auth=auth,
        transport=emulator.transport(),
        error_map=ERRORS,
        url_guard=GUARD,
        user_agent="crmsync-acme/0.1",
        **options,
    )


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
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )
    return private, public
