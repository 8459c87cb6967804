"""Dataverse's error bodies (fact sheet section 6 and 7) as crmsync errors."""

from __future__ import annotations

import re
from typing import Any

from crmsync.authoring import ErrorMap, ErrorRule
from crmsync.errors import (
    AuthenticationFailed,
    PermanentError,
    RateLimited,
)

__all__ = [
    "CONNECTOR",
    "DELTA_EXPIRED_MESSAGE",
    "ERRORS",
    "MISSING_CODES",
    "RETRYABLE_CODES",
    "THROTTLE_CODES",
    "field_of",
]

CONNECTOR = "dynamics"
VENDOR = "Microsoft Dataverse"
THROTTLE_CODES = frozenset({"0x80072322", "0x80072321", "0x80072326", "0x8005F103", "0x80060308"})
MISSING_CODES = frozenset({"0x80040217", "0x80060891"})
DUPLICATE_CODE = "0x80040237"
RETRYABLE_CODES = THROTTLE_CODES
DELTA_EXPIRED_MESSAGE = "Version stamp associated with the client has expired"

# Where Dataverse names the column at fault in a message.
_FIELD_PATTERNS = (
    re.compile(r"The length of the '(\w+)' attribute"),
    re.compile(r"of '(\w+)' on record of type"),
    re.compile(r"property named '(\w+)'"),
    re.compile(r"undeclared property '(\w+)'"),
)


def _error(body: Any) -> dict[str, Any]:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def field_of(message: str) -> str | None:
    """The column a Dataverse error message names, if any."""
    for pattern in _FIELD_PATTERNS:
        found = pattern.search(message or "")
        if found:
            return found.group(1)
    return None


def code_of(body: Any) -> str | None:
    """``error.code`` of a Dataverse error body."""
    code = _error(body).get("code")
    return str(code) if code not in (None, "") else None


def message_of(body: Any) -> str | None:
    """``error.message`` of a Dataverse error body."""
    message = _error(body).get("message")
    return str(message) if message is not None else None


ERRORS = ErrorMap(
    vendor=VENDOR,
    code=code_of,
    message=message_of,
    field=lambda body: field_of(message_of(body) or ""),
    request_id_headers=("REQ_ID", "x-ms-service-request-id"),
    rules=[
        ErrorRule(status=429, raises=RateLimited),
        ErrorRule(code=THROTTLE_CODES, raises=RateLimited),
        ErrorRule(
            code="0x80095ffc",
            raises=AuthenticationFailed,
            hint="create an application user for this app in the environment and give it "
            "a security role (Power Platform admin center > Users > Application users)",
        ),
        ErrorRule(
            code=("0x80048405", "0x80040220", "0x80048306"),
            raises=PermanentError,
            hint="the application user's security role lacks a privilege on this table",
        ),
        # Duplicate detection answers 500, but repeating it cannot succeed.
        ErrorRule(code="0x80040333", raises=PermanentError),
        ErrorRule(status=403, raises=AuthenticationFailed),
    ],
    default=PermanentError,
)
