"""Salesforce failures -> crmsync errors, as the authoring kit's error map."""

from __future__ import annotations

import re
from typing import Any

from crmsync.authoring import ErrorMap, ErrorRule
from crmsync.errors import PermanentError, QuotaExhausted, RateLimited, TransientError

__all__ = [
    "CONNECTOR",
    "ERRORS",
    "MISSING_ITEM_CODES",
    "RETRYABLE_ITEM_CODES",
    "item_error_field",
    "names_missing_record",
]

CONNECTOR = "salesforce"
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
# INVALID_CROSS_REFERENCE_KEY means two things: the record to update is gone (purged from
# the Recycle Bin, or never existed), the error naming no field or Id; or a lookup value
# names no record, the error naming that lookup field (a bad value, not a missing record).
CROSS_REFERENCE = "INVALID_CROSS_REFERENCE_KEY"
_NO_SUCH_COLUMN = re.compile(r"No such column '([A-Za-z0-9_]+)'")
_DUPLICATE_VALUE = re.compile(r"duplicate value found: ([A-Za-z0-9_]+) duplicates")
_FIELD_IN_MESSAGE = re.compile(r"for field '([A-Za-z0-9_]+)'")


def item_error_field(entry: dict[str, Any]) -> str | None:
    """The field a per-record error names: its ``fields``, else (``DUPLICATE_VALUE``
    names it only in its message) the field in the message."""
    fields = entry.get("fields")
    if isinstance(fields, list) and fields:
        return str(fields[0])
    found = _DUPLICATE_VALUE.search(str(entry.get("message", "")))
    return found.group(1) if found else None


def names_missing_record(code: str, field: str | None) -> bool:
    """Whether an update's error means the record itself no longer exists."""
    if code in MISSING_ITEM_CODES:
        return True
    return code == CROSS_REFERENCE and (field is None or field.lower() == "id")


def _field_of(entry: dict[str, Any]) -> str | None:
    fields = entry.get("fields")
    if isinstance(fields, list) and fields:
        return str(fields[0])
    message = str(entry.get("message", ""))
    found = _NO_SUCH_COLUMN.search(message) or _FIELD_IN_MESSAGE.search(message)
    return found.group(1) if found else None


# Error bodies are a JSON array of {"message", "errorCode", "fields"}; the map reads the
# first. 403 means a permission or a limit here, never an expired session (fact sheet 1).
ERRORS = ErrorMap(
    vendor="Salesforce",
    code=lambda entry: entry.get("errorCode"),
    message=lambda entry: entry.get("message"),
    field=_field_of,
    request_id_headers=("X-Request-Id", "Sforce-Request-Id", "X-SFDC-Request-Id"),
    rules=[
        # The org's rolling 24-hour allocation is spent: seconds of backoff cannot help.
        ErrorRule(
            code="REQUEST_LIMIT_EXCEEDED",
            message_contains="TotalRequests",
            raises=QuotaExhausted,
            hint="the org's daily API allocation is used up",
        ),
        ErrorRule(status=429, raises=RateLimited),
        ErrorRule(code="REQUEST_LIMIT_EXCEEDED", raises=RateLimited),
        ErrorRule(code=("UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"), raises=TransientError),
        ErrorRule(status=range(500, 600), raises=TransientError),
        ErrorRule(
            status=410,
            raises=PermanentError,
            hint="the pinned api_version is retired; set CRMSYNC_SALESFORCE_API_VERSION newer",
        ),
        ErrorRule(
            status=403,
            raises=PermanentError,
            hint="the integration user lacks a permission (API Enabled, object or field access)",
        ),
        ErrorRule(
            code="INVALID_FIELD",
            raises=PermanentError,
            hint="refresh the field list; the field may be hidden by field-level security",
        ),
    ],
)
