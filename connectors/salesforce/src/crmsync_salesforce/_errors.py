"""Salesforce failures -> crmsync errors (never a token or key in a message)."""

from __future__ import annotations

import re
from typing import Any, NoReturn
from urllib.parse import parse_qs

import httpx

from crmsync.errors import (
    AuthenticationExpired,
    AuthenticationFailed,
    OutcomeUnknown,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    TransientError,
)

__all__ = [
    "MISSING_ITEM_CODES",
    "RETRYABLE_ITEM_CODES",
    "parse_errors",
    "raise_for_response",
    "raise_for_token_response",
    "raise_transport_error",
    "request_id",
]

CONNECTOR = "salesforce"
DEFAULT_RATE_LIMIT_WAIT = 60.0
RETRYABLE_ITEM_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "SERVER_UNAVAILABLE",
        "REQUEST_LIMIT_EXCEEDED",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "PROCESSING_HALTED",
    }
)
# Item codes meaning the record to update is gone (deleted, purged, or never existed).
MISSING_ITEM_CODES = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_ID_FIELD"})
_REQUEST_ID_HEADERS = ("X-Request-Id", "Sforce-Request-Id", "X-SFDC-Request-Id")
_NO_SUCH_COLUMN = re.compile(r"No such column '([A-Za-z0-9_]+)'")
_FIELD_IN_MESSAGE = re.compile(r"for field '([A-Za-z0-9_]+)'")


def request_id(response: httpx.Response) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        if name in response.headers:
            return response.headers[name]
    return None


def parse_errors(response: httpx.Response) -> list[dict[str, Any]]:
    """The error entries of a response: a JSON array, a bare object, or non-JSON text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().replace("\n", " ")[:200]
        return [{"errorCode": f"HTTP_{response.status_code}", "message": text}]
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return [{"errorCode": f"HTTP_{response.status_code}", "message": str(body)[:200]}]
    return [entry for entry in body if isinstance(entry, dict)] or [
        {"errorCode": f"HTTP_{response.status_code}", "message": ""}
    ]


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else DEFAULT_RATE_LIMIT_WAIT
    except ValueError:
        return DEFAULT_RATE_LIMIT_WAIT


def _field_of(entry: dict[str, Any]) -> str | None:
    fields = entry.get("fields")
    if isinstance(fields, list) and fields:
        return str(fields[0])
    message = str(entry.get("message", ""))
    found = _NO_SUCH_COLUMN.search(message) or _FIELD_IN_MESSAGE.search(message)
    return found.group(1) if found else None


def raise_for_response(response: httpx.Response, *, object_name: str | None = None) -> NoReturn:
    """Raise the crmsync error for a non-2xx data-call response."""
    status = response.status_code
    entry = parse_errors(response)[0]
    code = str(entry.get("errorCode") or f"HTTP_{status}")
    message = " ".join(str(entry.get("message", "")).split())[:500]
    context: dict[str, Any] = {
        "connector": CONNECTOR,
        "object_name": object_name,
        "request_id": request_id(response),
    }
    text = f"Salesforce answered {status} {code}: {message}".rstrip(": ")
    if status == 401:
        raise AuthenticationExpired(text, **context)
    if code == "REQUEST_LIMIT_EXCEEDED" and "TotalRequests" in message:
        # The org's rolling 24-hour allocation is spent: seconds of backoff cannot help.
        raise QuotaExhausted(text, hint="the org's daily API allocation is used up", **context)
    if status == 429 or code == "REQUEST_LIMIT_EXCEEDED":
        raise RateLimited(text, retry_after=_retry_after(response), **context)
    if status >= 500 or code in {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"}:
        raise TransientError(text, **context)
    hint = None
    if status == 410:
        hint = "the pinned api_version is retired; set CRMSYNC_SALESFORCE_API_VERSION newer"
    elif status == 403:
        hint = "the integration user lacks a permission (API Enabled, object or field access)"
    elif code == "INVALID_FIELD":
        hint = "refresh the field list; the field may be hidden by field-level security"
    raise PermanentError(text, code=code, field=_field_of(entry), hint=hint, **context)


def raise_for_token_response(response: httpx.Response) -> NoReturn:
    """Raise the crmsync error for a failed OAuth token request."""
    status = response.status_code
    context: dict[str, Any] = {
        "connector": CONNECTOR,
        "request_id": request_id(response),
    }
    if status == 429:
        raise RateLimited(
            "Salesforce token endpoint is rate limiting",
            retry_after=_retry_after(response),
            **context,
        )
    if status >= 500:
        raise TransientError(f"Salesforce token endpoint answered {status}", **context)
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = str(body.get("error", f"HTTP_{status}")) if isinstance(body, dict) else "unknown"
    description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    hint = "check the connected app, its pre-authorized users, the login url and the key"
    if error == "invalid_grant" and _grant_type(response) == "refresh_token":
        hint = _SPENT_REFRESH_TOKEN
    raise AuthenticationFailed(
        f"Salesforce refused the credentials: {error}: {description}".rstrip(": "),
        hint=hint,
        **context,
    )


_SPENT_REFRESH_TOKEN = (
    "the refresh token is spent or revoked: with refresh token rotation every sign-in "
    "(doctor, fields and mapping add too) replaces it, and the new one is kept only in "
    "memory unless CRMSYNC_SALESFORCE_REFRESH_TOKEN_FILE names a file for it; set that "
    "and put a new refresh token in the file"
)


def _grant_type(response: httpx.Response) -> str | None:
    """The ``grant_type`` of the token request that ``response`` answers (only that
    field is read: the form also holds the credentials)."""
    try:
        body = response.request.content
    except (RuntimeError, httpx.RequestNotRead):
        return None
    try:
        values = parse_qs(body.decode("ascii"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    found = values.get("grant_type")
    return found[0] if found else None


# Failures after the request left: Salesforce may have carried it out (a call runs up to
# 10 minutes server-side, long after a client's read timeout).
_ANSWER_LOST = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)


def raise_transport_error(
    error: httpx.TransportError,
    *,
    object_name: str | None = None,
    what: str = "call",
    repeatable: bool = True,
) -> NoReturn:
    """A network failure (timeout, refused, dropped connection) as a TransientError;
    for a call that must not be repeated blindly (a create), an answer lost after the
    request was sent is an OutcomeUnknown instead."""
    kind = type(error).__name__
    if not repeatable and isinstance(error, _ANSWER_LOST):
        raise OutcomeUnknown(
            f"Salesforce {what} was sent but its answer was lost: {kind}",
            hint="the records may exist; the next cycle finds them by match key",
            connector=CONNECTOR,
            object_name=object_name,
        ) from None
    raise TransientError(
        f"Salesforce {what} failed in transit: {kind}",
        connector=CONNECTOR,
        object_name=object_name,
    ) from None
