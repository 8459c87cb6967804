"""Vendor failures -> crmsync errors, declared once per connector (`ErrorMap`)."""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, NoReturn

import httpx

from crmsync.errors import (
    AuthenticationExpired,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)

__all__ = ["ErrorMap", "ErrorRule", "parse_retry_after", "read_body"]

Extract = Callable[[Any], Any]


def parse_retry_after(
    value: str | None, *, now: Callable[[], dt.datetime] | None = None
) -> float | None:
    """A ``Retry-After`` header in seconds, or ``None`` when absent or unreadable.

    Both forms of RFC 9110 are read: delay seconds (``"120"``) and an HTTP date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``, counted from ``now``). A date in the past
    is 0 seconds. ``None`` leaves the wait to the framework's capped, jittered
    exponential backoff.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:  # not the RFC's form, but some vendors send "1.5"
        return (
            max(0.0, seconds)
            if seconds == seconds and seconds != float("inf")
            else None
        )
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT
        moment = moment.replace(tzinfo=dt.UTC)
    current = now() if now is not None else dt.datetime.now(dt.UTC)
    return max(0.0, (moment - current).total_seconds())


def read_body(response: httpx.Response) -> Any:
    """The JSON body of ``response`` (a JSON array is read by its first object), or
    ``None`` when it is not JSON."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, list):
        return next((entry for entry in body if isinstance(entry, dict)), None)
    return body


def _matches(expected: int | range | Collection[int] | None, status: int) -> bool:
    if expected is None:
        return True
    if isinstance(expected, int):
        return status == expected
    return status in expected


@dataclass(frozen=True)
class ErrorRule:
    """One line of an :class:`ErrorMap`: when ``status`` and ``code`` (and
    ``message_contains``) match, raise ``raises`` with ``hint``.

    ``status`` is one code, a ``range`` or a collection; ``code`` one vendor error code
    or a collection of them; ``None`` matches anything. ``when`` may add a test of the
    parsed body for what the other fields cannot say.
    """

    raises: type[ConnectorError]
    status: int | range | Collection[int] | None = None
    code: str | Collection[str] | None = None
    message_contains: str | None = None
    hint: str | None = None
    when: Callable[[httpx.Response, Any], bool] | None = None

    def matches(
        self, response: httpx.Response, body: Any, code: str | None, message: str
    ) -> bool:
        if not _matches(self.status, response.status_code):
            return False
        if self.code is not None:
            wanted = {self.code} if isinstance(self.code, str) else set(self.code)
            if code not in wanted:
                return False
        if self.message_contains is not None and self.message_contains not in message:
            return False
        return self.when is None or bool(self.when(response, body))


# Applied after a vendor's own rules: what HTTP itself says about a failure.
_FALLBACK = (
    ErrorRule(status=401, raises=AuthenticationExpired),
    ErrorRule(status=429, raises=RateLimited),
    ErrorRule(status=(408, 500, 502, 503, 504), raises=TransientError),
)


def _safe(extract: Extract | None, body: Any) -> str | None:
    if extract is None or body is None:
        return None
    try:
        value = extract(body)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return None
    if value is None or value == "":
        return None
    return str(value)


@dataclass(frozen=True)
class ErrorMap:
    """How one vendor's failed responses become crmsync errors.

    ``code``, ``message`` and ``field`` read the vendor's error code, message and the
    field at fault from the parsed JSON body (a JSON array is read by its first
    object; a non-JSON body gives ``None``). The first matching rule decides; then a
    401 is :class:`~crmsync.errors.AuthenticationExpired`, a 429
    :class:`~crmsync.errors.RateLimited`, a 408/500/502/503/504 a
    :class:`~crmsync.errors.TransientError`, and the rest ``default``.

    A :class:`~crmsync.errors.RateLimited` carries the ``Retry-After`` header in
    seconds (both forms), or ``None`` so that the framework's backoff applies.
    """

    vendor: str
    code: Extract | None = None
    message: Extract | None = None
    field: Extract | None = None
    rules: Sequence[ErrorRule] = ()
    default: type[ConnectorError] = PermanentError
    request_id_headers: Sequence[str] = ("x-request-id",)
    now: Callable[[], dt.datetime] | None = dataclass_field(default=None, repr=False)

    def request_id(self, response: httpx.Response) -> str | None:
        """The vendor's request id of ``response``, from the first header present."""
        for name in self.request_id_headers:
            value = response.headers.get(name)
            if value:
                return str(value)
        return None

    def describe(self, response: httpx.Response) -> tuple[str, str, str | None]:
        """``(code, message, field)`` of a failed response; the code falls back to
        ``HTTP_<status>`` and the message to the body's first 200 characters."""
        body = read_body(response)
        code = _safe(self.code, body) or f"HTTP_{response.status_code}"
        message = _safe(self.message, body)
        if message is None and body is None:
            message = response.text.strip()[:200]
        text = " ".join((message or "").split())[:500]
        return code, text, _safe(self.field, body)

    def error_for(
        self,
        response: httpx.Response,
        *,
        object_name: str | None = None,
        connector: str | None = None,
        request_id: str | None = None,
    ) -> ConnectorError:
        """The crmsync error for a failed ``response`` (not raised)."""
        body = read_body(response)
        code, message, field_name = self.describe(response)
        status = response.status_code
        rule = next(
            (
                r
                for r in (*self.rules, *_FALLBACK)
                if r.matches(response, body, code, message)
            ),
            None,
        )
        kind = rule.raises if rule is not None else self.default
        hint = rule.hint if rule is not None else None
        text = f"{self.vendor} answered {status} {code}: {message}".rstrip(": ")
        context: dict[str, Any] = {
            "connector": connector,
            "object_name": object_name,
            "request_id": request_id or self.request_id(response),
            "hint": hint,
        }
        if issubclass(kind, RateLimited):
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), now=self.now
            )
            return kind(text, retry_after=retry_after, **context)
        if issubclass(kind, PermanentError):
            return kind(text, code=code, field=field_name, **context)
        return kind(text, **context)

    def raise_for(
        self,
        response: httpx.Response,
        *,
        object_name: str | None = None,
        connector: str | None = None,
        request_id: str | None = None,
    ) -> NoReturn:
        """Raise the crmsync error for a failed ``response``."""
        raise self.error_for(
            response,
            object_name=object_name,
            connector=connector,
            request_id=request_id,
        )
