"""The emulator kit: routes, faults in the contract kit's names, the request log, the
clock, the token endpoint and the loopback server."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import httpx
import pytest

from crmsync.testing.emulator import (
    STANDARD_FAULTS,
    DemoField,
    EmulatorBase,
    EmulatorClock,
    EmulatorServer,
    FaultQueue,
    OAuthTokenEndpoint,
    json_response,
    route,
)
from crmsync.testing.kit._sandbox import Fault

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


class Tiny(EmulatorBase):
    vendor = "Tiny"
    extra_faults = ("row_lock",)
    fault_aliases: ClassVar[dict[str, str]] = {"server_error": "transient"}

    def __init__(self) -> None:
        self.slept: list[float] = []
        super().__init__(clock=EmulatorClock(T0), sleep=self.slept.append)
        self.writes = 0
        self.oauth = OAuthTokenEndpoint(self.clock, lifetime=60)

    @route("POST", r"/token", faults="explicit")
    def token(self, request: httpx.Request) -> httpx.Response:
        return self.oauth.handle(request)

    @route("GET", r"/items/(?P<item>\d+)")
    def get_item(self, request: httpx.Request, item: str) -> httpx.Response:
        return json_response(200, {"item": int(item), "fault": bool(self.active_fault)})

    @route("POST", r"/items")
    def create(self, request: httpx.Request) -> httpx.Response:
        self.writes += 1
        return json_response(201, {"id": self.writes})

    def fault_row_lock(
        self, fault: Any, request: httpx.Request
    ) -> httpx.Response | None:
        return None  # leaves it to the route (an item-level failure)


def client(emulator: EmulatorBase) -> httpx.Client:
    return httpx.Client(transport=emulator.transport(), base_url="http://127.0.0.1")


def test_routes_and_not_found() -> None:
    tiny = Tiny()
    with client(tiny) as http:
        assert http.get("/items/7").json() == {"item": 7, "fault": False}
        assert http.get("/nothing").status_code == 404
        assert http.delete("/items/7").status_code == 405


def test_the_standard_faults_are_the_contract_kits() -> None:
    assert set(Fault.__args__) <= STANDARD_FAULTS  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="unknown fault 'boom'"):
        FaultQueue().inject("boom")


def test_faults_render_and_are_consumed_in_order() -> None:
    tiny = Tiny()
    tiny.faults.inject("rate_limit", retry_after=9)
    tiny.faults.inject("server_error", count=2, path_contains="/items/1")
    tiny.faults.inject("permanent", method="POST")
    tiny.faults.inject("expired")
    with client(tiny) as http:
        limited = http.get("/items/1")
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "9")
        assert http.get("/items/2").status_code == 401  # expired: first matching
        assert http.get("/items/1").status_code == 503
        assert http.get("/items/1").status_code == 503
        assert http.get("/items/1").status_code == 200
        assert http.post("/items").status_code == 400
    assert [name for name, _ in tiny.faults.fired] == [
        "rate_limit",
        "expired",
        "transient",
        "transient",
        "permanent",
    ]
    assert [r.status for r in tiny.log.calls()] == [429, 401, 503, 503, 200, 400]


def test_a_fault_left_to_the_route() -> None:
    tiny = Tiny()
    tiny.faults.inject("row_lock")
    with client(tiny) as http:
        assert http.get("/items/1").json()["fault"] is True
        assert http.get("/items/1").json()["fault"] is False


def test_transport_faults() -> None:
    tiny = Tiny()
    tiny.faults.inject("slow", delay=2.5)
    tiny.faults.inject("dropped_connection")
    tiny.faults.inject("dropped_connection", writes_only=True, after_commit=True)
    with client(tiny) as http:
        assert http.get("/items/1").status_code == 200
        assert tiny.slept == [2.5]
        with pytest.raises(httpx.RemoteProtocolError):
            http.get("/items/1")
        with pytest.raises(httpx.RemoteProtocolError):
            http.post("/items")
    assert tiny.writes == 1  # carried out, answer lost
    tiny.faults.inject("slow", timeout=True)
    with client(tiny) as http, pytest.raises(httpx.ReadTimeout):
        http.get("/items/1")
    assert tiny.log.calls()[-1].status == 0


def test_token_endpoint_faults_are_explicit_only() -> None:
    tiny = Tiny()
    tiny.oauth.register_client("app", secret="abc")
    tiny.faults.inject("transient")
    with client(tiny) as http:
        form = {
            "grant_type": "client_credentials",
            "client_id": "app",
            "client_secret": "abc",
        }
        assert http.post("/token", data=form).status_code == 200
        assert http.get("/items/1").status_code == 503
        tiny.faults.inject("transient", path_contains="/token")
        assert http.post("/token", data=form).status_code == 503


def test_token_lifetime_follows_the_emulator_clock() -> None:
    tiny = Tiny()
    tiny.oauth.register_client("app", secret="abc")
    with client(tiny) as http:
        answer = http.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "app",
                "client_secret": "abc",
            },
        ).json()
    assert answer["expires_in"] == 60
    header = f"Bearer {answer['access_token']}"
    assert tiny.oauth.validate(header) is not None
    tiny.clock.advance(61)
    assert tiny.oauth.validate(header) is None
    logged = tiny.log.calls("POST", "/token")[0]
    assert logged.form()["client_secret"] == "***"
    assert b"abc" not in logged.body


def test_oauth_errors() -> None:
    tiny = Tiny()
    tiny.oauth.register_client("app", secret="abc")
    with client(tiny) as http:
        wrong = http.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "app",
                "client_secret": "x",
            },
        )
        assert wrong.json()["error"] == "invalid_client"
        unknown = http.post("/token", data={"grant_type": "password"})
        assert unknown.json()["error"] == "unsupported_grant_type"
        spent = http.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "client_id": "app",
                "refresh_token": "nope",
            },
        )
        assert spent.json()["error"] == "invalid_grant"


def test_the_clock() -> None:
    clock = EmulatorClock(resolution="millisecond")
    moment = clock.freeze(dt.datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=dt.UTC))
    assert moment.microsecond == 123000
    assert clock.advance(1.5) == dt.datetime(2024, 1, 1, 0, 0, 1, 623000, tzinfo=dt.UTC)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.freeze(dt.datetime(2024, 1, 1))
    clock.unfreeze()
    assert not clock.frozen


def test_the_loopback_server_serves_handle() -> None:
    tiny = Tiny()
    with EmulatorServer(tiny) as server:
        assert server.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=server.url) as http:
            assert http.get("/items/3").json()["item"] == 3
            tiny.faults.inject("dropped_connection")
            with pytest.raises(httpx.RemoteProtocolError):
                http.get("/items/3")


def test_demo_fields_are_checked() -> None:
    assert DemoField("email", "Email", "sync").objects is None
    with pytest.raises(ValueError, match="not a demo platform field"):
        DemoField("score", "Score", "sync")
