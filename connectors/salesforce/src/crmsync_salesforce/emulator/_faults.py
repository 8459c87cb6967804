"""Fault injection of the emulated org: the fault queue and how each fault answers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from crmsync.testing.emulator import FaultQueue

if TYPE_CHECKING:
    from crmsync_salesforce.emulator._core import SalesforceEmulator

__all__ = ["SalesforceFaults", "fire"]


@dataclass
class _Reply:
    """An answer before it becomes an ``httpx.Response`` (``raw`` for non-JSON bodies)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


class SalesforceFaults(FaultQueue):
    """The kit's faults (``rate_limit`` renders 403 ``REQUEST_LIMIT_EXCEEDED`` unless
    ``status=429``), Salesforce's ``row_lock``, and the older spellings
    ``server_error``, ``expired_session`` and ``bad_request``.

    Options: ``rate_limit``: ``status``, ``retry_after``; ``transient``: ``status`` 500
    (default), 502, 503 or 504; ``row_lock``: ``mode`` ``"item"`` (default: the first
    record of the next write gets ``UNABLE_TO_LOCK_ROW``) or ``"request"`` (the whole
    call answers 400); ``permanent``: ``status``, ``code``, ``message``.
    """

    def __init__(self) -> None:
        super().__init__(
            extra=("row_lock",),
            aliases={
                "server_error": "transient",
                "expired_session": "expired",
                "bad_request": "permanent",
            },
        )

    def inject(
        self,
        name: str,
        count: int = 1,
        path_contains: str | None = None,
        *,
        method: str | None = None,
        writes_only: bool = False,
        **options: Any,
    ) -> Any:
        # An item-level row lock fails a record of a write: reads pass it by.
        if name == "row_lock" and options.get("mode", "item") == "item":
            writes_only = True
        return super().inject(
            name, count, path_contains, method=method, writes_only=writes_only, **options
        )


class _LostAnswer(Exception):
    """The call was carried out, but its answer never reaches the client."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _Drop(Exception):
    """Close the connection without answering."""


def fire(emu: SalesforceEmulator, fault: Any, request: httpx.Request) -> _Reply | None:
    """The answer of an injected fault, or ``None`` when the call goes on (``slow``)."""
    options = fault.options
    if fault.name == "rate_limit":
        status = int(options.get("status", 403))
        headers = emu._usage_header()
        retry_after = options.get("retry_after", 30 if status == 429 else None)
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if status == 429:
            return _Reply(
                429,
                [
                    {
                        "message": "Too many requests",
                        "errorCode": "REQUEST_LIMIT_EXCEEDED",
                    }
                ],
                headers,
            )
        return _Reply(
            403,
            [
                {
                    "message": "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
                    "errorCode": "REQUEST_LIMIT_EXCEEDED",
                }
            ],
            headers,
        )
    if fault.name == "transient":
        status = int(options.get("status", 500))
        if status == 503:
            return emu._error(503, "SERVER_UNAVAILABLE", "Server unavailable, try again")
        if status in {502, 504}:
            return _Reply(
                status,
                raw=b"<html><body>Bad gateway</body></html>",
                headers={"Content-Type": "text/html"},
            )
        return emu._error(
            status,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. "
            "Please include this ErrorId if you contact support: "
            "1234567890-12345 (-1234567890)",
        )
    if fault.name == "dropped_connection":
        raise _Drop
    if fault.name == "slow":
        if options.get("timeout"):
            raise httpx.ReadTimeout("timed out", request=request)
        time.sleep(float(options.get("delay", 1.0)))
        return None
    if fault.name == "permanent":
        return emu._error(
            int(options.get("status", 400)),
            str(options.get("code", "INVALID_OPERATION")),
            str(options.get("message", "The requested operation is not allowed")),
        )
    if fault.name == "row_lock":
        return emu._error(
            400,
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record or 1 records: " + emu.user_id,
            fields=[],
        )
    return None
