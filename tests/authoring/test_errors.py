"""ErrorMap and Retry-After: vendor answers to crmsync errors."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from crmsync.authoring import ErrorMap, ErrorRule, parse_retry_after
from crmsync.errors import (
    AuthenticationExpired,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    TransientError,
)

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)

from .conftest import ERRORS  # noqa: E402


def answer(status: int, body: object = None, **headers: str) -> httpx.Response:
    request = httpx.Request("GET", "https://api.acme.example/v1/leads")
    if body is None:
        return httpx.Response(
            status, headers=headers, text="<html>oops</html>", request=request
        )
    return httpx.Response(status, headers=headers, json=body, request=request)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("Wed, 01 May 2024 12:01:30 GMT", 90.0),
        ("Wed, 01 May 2024 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("-5", 0.0),
        ("nan", None),
    ],
)
def test_parse_retry_after_reads_both_forms(
    value: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(value, now=lambda: NOW) == seconds


def test_rules_decide_in_order_then_http_fallbacks() -> None:
    error = ERRORS.error_for(
        answer(401, {"code": "INVALID_TOKEN", "message": "expired"})
    )
    assert isinstance(error, AuthenticationExpired)
    error = ERRORS.error_for(answer(403, {"code": "LIMIT", "message": "daily cap"}))
    assert isinstance(error, QuotaExhausted)
    error = ERRORS.error_for(answer(403, {"code": "LIMIT", "message": "per minute"}))
    assert isinstance(error, PermanentError) and error.code == "LIMIT"
    error = ERRORS.error_for(answer(502, None))
    assert isinstance(error, TransientError)
    assert "<html>oops</html>" in str(error)


def test_permanent_errors_carry_code_field_hint_and_context() -> None:
    error = ERRORS.error_for(
        answer(
            400,
            {"code": "NO_SCOPE", "message": "scope", "field": "Email"},
            **{"x-acme-request": "r-9"},
        ),
        object_name="Leads",
        connector="acme",
    )
    assert isinstance(error, PermanentError)
    assert (error.code, error.field, error.hint) == (
        "NO_SCOPE",
        "Email",
        "grant the scope",
    )
    assert error.context() == {
        "connector": "acme",
        "object": "Leads",
        "request_id": "r-9",
    }
    assert str(error).startswith("Acme answered 400 NO_SCOPE: scope")


def test_a_rate_limit_without_retry_after_leaves_the_wait_to_the_framework() -> None:
    error = ERRORS.error_for(answer(429, {"code": "SLOW", "message": "slow down"}))
    assert isinstance(error, RateLimited) and error.retry_after is None
    error = ERRORS.error_for(answer(429, {"code": "SLOW"}, **{"Retry-After": "7"}))
    assert isinstance(error, RateLimited) and error.retry_after == 7.0


def test_a_json_array_body_is_read_by_its_first_object() -> None:
    errors = ErrorMap(vendor="Salesforce", code=lambda b: b.get("errorCode"))
    error = errors.error_for(answer(400, [{"errorCode": "MALFORMED_QUERY"}]))
    assert isinstance(error, PermanentError) and error.code == "MALFORMED_QUERY"


def test_an_extractor_that_fails_falls_back_to_the_status() -> None:
    errors = ErrorMap(vendor="X", code=lambda b: b["missing"]["deeper"])
    error = errors.error_for(answer(418, {"other": 1}))
    assert isinstance(error, PermanentError) and error.code == "HTTP_418"


def test_when_tests_the_body() -> None:
    errors = ErrorMap(
        vendor="X",
        rules=[
            ErrorRule(
                raises=TransientError, when=lambda r, b: bool(b and b.get("retry"))
            )
        ],
    )
    assert isinstance(errors.error_for(answer(400, {"retry": True})), TransientError)
    assert isinstance(errors.error_for(answer(400, {"retry": False})), PermanentError)


def test_raise_for_raises() -> None:
    with pytest.raises(PermanentError):
        ERRORS.raise_for(answer(404, {"code": "NOT_FOUND"}))
