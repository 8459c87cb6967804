"""ConnectorHttp measures the vendor's clock from its answers' ``Date`` headers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import pytest

from crmsync.authoring import ConnectorHttp
from crmsync.testing.emulator import EmulatorClock, EmulatorServer

from .conftest import BASE, ERRORS, GUARD, START, AcmeEmulator, make_http


class SteppingClock:
    """Our clock: each reading is ``step`` seconds after the one before (a request
    takes time), starting at ``at`` (epoch seconds)."""

    def __init__(self, at: float, step: float = 0.0) -> None:
        self.at = at
        self.step = step

    def __call__(self) -> float:
        now = self.at
        self.at += self.step
        return now


def _dated_by(
    vendor_now: Callable[[], float], headers: dict[str, str] | None = None
) -> httpx.MockTransport:
    """A vendor answering with a ``Date`` of ``vendor_now()`` (whole seconds)."""

    def answer(request: httpx.Request) -> httpx.Response:
        moment = dt.datetime.fromtimestamp(vendor_now(), dt.UTC)
        return httpx.Response(
            200,
            headers={
                "Date": moment.strftime("%a, %d %b %Y %H:%M:%S GMT"),
                **(headers or {}),
            },
            json={},
        )

    return httpx.MockTransport(answer)


def _session(
    transport: httpx.BaseTransport, clock: Callable[[], float]
) -> ConnectorHttp:
    return ConnectorHttp(
        connector="acme",
        base_url=BASE,
        transport=transport,
        error_map=ERRORS,
        url_guard=GUARD,
        clock=clock,
    )


def test_a_vendor_90_seconds_behind_is_measured_within_the_uncertainty() -> None:
    ours = SteppingClock(START.timestamp() + 0.37, step=0.04)  # 40 ms round trips
    http = _session(_dated_by(lambda: ours.at - 90.0), ours)
    assert http.clock_offset() is None  # nothing measured before an answer

    http.request("GET", "/v1/leads")
    first = http.clock_offset()
    assert first is not None
    # One answer: half the round trip plus half the header's whole second, at most.
    assert first.uncertainty_seconds <= 0.02 + 0.5 + 1e-9
    assert abs(first.offset_seconds - -90.0) <= first.uncertainty_seconds
    for _ in range(40):  # answers fall at other points of the second: it narrows
        ours.at += 0.29
        http.request("GET", "/v1/leads")

    offset = http.clock_offset()
    assert offset is not None
    assert abs(offset.offset_seconds - -90.0) <= offset.uncertainty_seconds
    assert offset.uncertainty_seconds < first.uncertainty_seconds / 4


def test_a_frozen_vendor_and_a_frozen_clock_bound_the_offset_by_the_header() -> None:
    emulator = AcmeEmulator()  # its clock frozen at START
    emulator.clock.set(START - dt.timedelta(seconds=90))
    http = make_http(emulator, None, clock=lambda: START.timestamp())

    http.request("GET", "/v1/leads", authenticated=False, accept=(401,))

    offset = http.clock_offset()
    assert offset is not None
    assert (offset.offset_seconds, offset.uncertainty_seconds) == (-89.5, 0.5)


@pytest.mark.parametrize(
    "headers",
    [
        {"Date": "not a date"},
        {"Date": ""},
        {"Age": "120"},  # a cache's copy: its Date is when the vendor made it
    ],
)
def test_answers_without_a_usable_date_measure_nothing(headers) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        dated = {"Date": "Wed, 01 May 2024 11:58:30 GMT", **headers}
        return httpx.Response(200, headers=dated, json={})

    http = _session(httpx.MockTransport(answer), lambda: START.timestamp())
    http.request("GET", "/v1/leads")
    assert http.clock_offset() is None


def test_the_three_date_formats_of_rfc_7231_all_count() -> None:
    forms = iter(
        [
            "Wed, 01 May 2024 11:58:30 GMT",  # IMF-fixdate
            "Wednesday, 01-May-24 11:58:30 GMT",  # RFC 850
            "Wed May  1 11:58:30 2024",  # asctime
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Date": next(forms)}, json={})

    http = _session(httpx.MockTransport(answer), lambda: START.timestamp())
    for _ in range(3):
        http.request("GET", "/v1/leads")
    offset = http.clock_offset()
    assert offset is not None
    assert (offset.offset_seconds, offset.uncertainty_seconds) == (-89.5, 0.5)


def test_a_clock_that_moved_restarts_the_measure_from_the_newest_answer() -> None:
    ours = SteppingClock(START.timestamp(), step=0.1)
    behind = [90.0]
    http = _session(_dated_by(lambda: ours.at - behind[0]), ours)
    for _ in range(5):
        http.request("GET", "/v1/leads")
    behind[0] = 30.0  # the vendor's clock was corrected by a minute
    http.request("GET", "/v1/leads")

    offset = http.clock_offset()
    assert offset is not None
    assert abs(offset.offset_seconds - -30.0) <= offset.uncertainty_seconds


def test_token_answers_do_not_count(emulator: AcmeEmulator) -> None:
    emulator.clock.set(START - dt.timedelta(hours=2))  # a login host's own clock
    http = make_http(emulator, None, clock=lambda: START.timestamp())
    http.token_request(
        "https://login.acme.example/oauth/token",
        {"grant_type": "client_credentials", "client_id": "app"},
    )
    assert http.clock_offset() is None


def test_an_emulator_on_a_socket_sends_its_own_clocks_date_once() -> None:
    emulator = AcmeEmulator()
    emulator.clock = EmulatorClock(START - dt.timedelta(seconds=90))
    with EmulatorServer(emulator) as server:
        response = httpx.get(f"{server.url}/v1/leads")
    assert response.headers.get_list("date") == ["Wed, 01 May 2024 11:58:30 GMT"]
