"""Zoho failures -> crmsync errors (fact sheet section 6), declared once.

Request-level error bodies are ``{"code", "details", "message", "status"}``; the field at
fault is ``details.api_name`` (or ``details.param_name`` for a query parameter).
"""

from __future__ import annotations

from typing import Any

import httpx

from crmsync.authoring import ErrorMap, ErrorRule
from crmsync.errors import (
    AuthenticationExpired,
    AuthenticationFailed,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    TransientError,
)

__all__ = ["CONNECTOR", "ERRORS", "MISSING_ITEM_CODES", "RETRYABLE_ITEM_CODES", "is_quota"]

CONNECTOR = "zoho"
# Per-record codes a later attempt may get past (a lock, a limit).
RETRYABLE_ITEM_CODES = frozenset({"RECORD_LOCKED", "TOO_MANY_REQUESTS", "INTERNAL_ERROR"})
MISSING_ITEM_CODES = frozenset({"INVALID_DATA"})  # with details.api_name "id" only


def _details(body: Any) -> dict[str, Any]:
    details = body.get("details") if isinstance(body, dict) else None
    return details if isinstance(details, dict) else {}


def is_quota(response: httpx.Response, body: Any) -> bool:
    """A 429 for the 24-hour credit ledger, not for concurrency.

    Zoho sends ``TOO_MANY_REQUESTS`` for both (fact sheet section 7). The credits case is
    told apart by ``X-API-CREDITS-REMAINING: 0`` where Zoho sends it, or a message about
    credits; everything else is a concurrency limit, which backing off cures.
    """
    if response.headers.get("X-API-CREDITS-REMAINING", "").strip() == "0":
        return True
    message = str(body.get("message", "")) if isinstance(body, dict) else ""
    return "credit" in message.lower()


ERRORS = ErrorMap(
    vendor="Zoho CRM",
    code=lambda body: body.get("code"),
    message=lambda body: body.get("message"),
    field=lambda body: _details(body).get("api_name") or _details(body).get("param_name"),
    request_id_headers=("x-request-id", "x-zoho-request-id"),
    rules=[
        ErrorRule(
            status=429,
            raises=QuotaExhausted,
            when=is_quota,
            hint="the org's API credits for the rolling 24 hours are spent; the next cycle "
            "resumes once they are released",
        ),
        ErrorRule(status=429, raises=RateLimited),
        ErrorRule(status=401, code=("INVALID_TOKEN", "AUTHENTICATION_FAILURE"),
                  raises=AuthenticationExpired),
        ErrorRule(
            status=401,
            code="OAUTH_SCOPE_MISMATCH",
            raises=AuthenticationFailed,
            hint="the grant lacks a scope: create the grant code with "
            "ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.coql.READ",
        ),
        ErrorRule(
            status=(400, 403),
            code=("NO_PERMISSION", "AUTHORIZATION_FAILED"),
            raises=PermanentError,
            hint="the API user's profile lacks a permission on this module",
        ),
        ErrorRule(
            status=400,
            code="INVALID_HOST",
            raises=PermanentError,
            hint="calls must go to the api_domain the token answer names",
        ),
        ErrorRule(status=range(500, 600), raises=TransientError),
    ],
    default=PermanentError,
)
