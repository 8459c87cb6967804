"""Autotask failures -> crmsync errors.

Autotask has no error codes: API-level failures are ``{"errors": ["text", ...]}``
(usually HTTP 500, whatever the cause) and routing failures ``{"Message": "..."}``, or
even an HTML page. The texts are matched on fragments (fact sheet section 6) and given
codes of our own, so that rules and per-record errors can name them.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from crmsync.authoring import ErrorMap, ErrorRule
from crmsync.errors import (
    AuthenticationFailed,
    PermanentError,
    QuotaExhausted,
    RateLimited,
)

__all__ = ["CONNECTOR", "ERRORS", "classify", "field_in", "messages"]

CONNECTOR = "autotask"

# (code, lower-case fragment) in the order they are tried.
_FRAGMENTS: tuple[tuple[str, str], ...] = (
    ("THREAD_LIMIT", "itgenatr005"),
    ("THREAD_LIMIT", "thread threshold"),
    ("ZONE_UNKNOWN", "zone information could not be determined"),
    ("BAD_CREDENTIALS", "integrationcode"),
    ("BAD_CREDENTIALS", "integration code"),
    ("BAD_CREDENTIALS", "is not an api user"),
    ("NOT_FOUND", "no matching records found"),
    ("PERMISSION", "adequate permissions"),
    ("INVALID_FIELD", "unable to find"),
    ("INVALID_QUERY", "maxcountofrecordstoreturn"),
    ("INVALID_QUERY", "'or' conditions"),
    ("INVALID_TYPE", "unexpected character encountered"),
    ("INVALID_TYPE", "could not convert"),
    ("INVALID_REFERENCE", "does not reference an existing entity"),
    ("REQUIRED_FIELD_MISSING", "required"),
    ("STRING_TOO_LONG", "maximum length"),
    ("THRESHOLD_EXCEEDED", "request threshold"),
)
_FIELD_PATTERNS = (
    re.compile(r"Unable to find (.+?) in the Entity", re.IGNORECASE),
    re.compile(r"Path '([A-Za-z0-9_]+)"),
    re.compile(r"existing entity for ([A-Za-z0-9_]+)"),
    re.compile(r"value for ([A-Za-z0-9_]+) exceeds", re.IGNORECASE),
    re.compile(r"missing: ([A-Za-z0-9_]+)"),
    re.compile(r"option for ([A-Za-z0-9_ ]+?)\.?$"),
)


def messages(body: Any) -> list[str]:
    """The texts of an error body: the ``errors`` strings, else ``Message``."""
    if not isinstance(body, dict):
        return []
    lowered = {str(k).lower(): v for k, v in body.items()}
    found = lowered.get("errors")
    if isinstance(found, list):
        # Strings on the wire; objects with a message are read too, defensively.
        texts = [
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in found
        ]
        return [t for t in texts if t.strip()]
    message = lowered.get("message")
    return [str(message)] if message else []


def classify(body: Any) -> str | None:
    """Our code for an Autotask error body (``VALIDATION`` for an unrecognised
    ``errors`` text), or ``None`` when the body carries no ``errors`` list."""
    texts = messages(body)
    joined = " ".join(texts).lower()
    for code, fragment in _FRAGMENTS:
        if fragment in joined:
            return code
    if isinstance(body, dict) and any(str(k).lower() == "errors" for k in body) and texts:
        return "VALIDATION"
    return None


def field_in(text: str) -> str | None:
    """The field an error text names, where it names one."""
    for pattern in _FIELD_PATTERNS:
        found = pattern.search(text)
        if found:
            return found.group(1).strip()
    return None


def _has_errors(response: httpx.Response, body: Any) -> bool:
    return classify(body) is not None


ERRORS = ErrorMap(
    vendor="Autotask",
    code=classify,
    message=lambda body: " | ".join(messages(body)) or None,
    field=lambda body: field_in(" ".join(messages(body))),
    rules=(
        # The per-(integration, entity) thread limit: seen as 429, matched on any status.
        ErrorRule(code="THREAD_LIMIT", raises=RateLimited),
        ErrorRule(
            status=429,
            raises=QuotaExhausted,
            hint="the tenant's 10,000 requests per rolling hour (shared by every "
            "integration) are used up; the next cycle resumes",
        ),
        ErrorRule(
            code="ZONE_UNKNOWN",
            raises=AuthenticationFailed,
            hint="CRMSYNC_AUTOTASK_USERNAME is not a known Autotask API user",
        ),
        ErrorRule(
            code="BAD_CREDENTIALS",
            raises=AuthenticationFailed,
            hint="check CRMSYNC_AUTOTASK_USERNAME and CRMSYNC_AUTOTASK_INTEGRATION_CODE "
            "(the API tracking identifier); the user must be API-only",
        ),
        ErrorRule(
            code="PERMISSION",
            raises=PermanentError,
            hint="the API user's security level lacks a permission on this entity",
        ),
        # Validation and business rules come back as 500 with an errors list: they are
        # the request's fault, never worth repeating.
        ErrorRule(status=500, raises=PermanentError, when=_has_errors),
        ErrorRule(
            status=404,
            raises=PermanentError,
            hint="no such route: check the zone URL and that the entity path exists",
        ),
    ),
    default=PermanentError,
)
