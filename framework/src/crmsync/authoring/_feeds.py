"""What every connector's feed and write code gets wrong once: a cursor that moves
backwards, results out of request order, page links that leave the vendor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

from crmsync.contract import Cursor, RecordError, WriteRequest, WriteResult
from crmsync.errors import PermanentError

__all__ = [
    "MonotonicCursor",
    "checked_page_token",
    "keyset_after",
    "past_cursor",
    "results_in_order",
]


class MonotonicCursor:
    """The position after a page of a change feed, never behind where it started.

    Feed the rows' ``(modified_at, record_id)`` through :meth:`advance` as they are
    read; :attr:`cursor` is the furthest of them, or the starting cursor when the page
    held nothing further (a vendor that returns a row from before the cursor, or an
    empty page, must not move the feed back and re-read the world).
    """

    def __init__(self, start: Cursor | None = None) -> None:
        self._start = start
        self._last: tuple[dt.datetime, str] | None = None

    def advance(self, modified_at: dt.datetime, record_id: str) -> None:
        """Account for one row read."""
        if modified_at.tzinfo is None:
            raise ValueError("modified_at must be time-zone aware")
        position = (modified_at, record_id)
        if self._last is None or position > self._last:
            self._last = position

    @property
    def cursor(self) -> Cursor:
        """The position to store after this page."""
        if self._last is None:
            return self._start or Cursor()
        moved = Cursor(modified_at=self._last[0], record_id=self._last[1])
        if self._start is not None and moved.sort_key() < self._start.sort_key():
            return self._start
        if self._start is not None and self._start.token is not None:
            return moved.model_copy(update={"token": self._start.token})
        return moved


def keyset_after(cursor: Cursor | None) -> tuple[dt.datetime, str | None] | None:
    """Where a keyset read resumes: ``(modified_at, record_id)`` to ask for rows
    strictly after (``record_id`` set) or at and after (``record_id`` ``None``: an
    overlap window re-read inclusively); ``None`` reads from the start. A vendor query
    renders it as ``stamp > t OR (stamp = t AND id > r)``, or ``stamp >= t``."""
    if cursor is None or cursor.modified_at is None:
        return None
    return cursor.modified_at, cursor.record_id or None


def past_cursor(
    cursor: Cursor | None, modified_at: dt.datetime, record_id: str
) -> bool:
    """Whether a row at ``(modified_at, record_id)`` lies after ``cursor`` in feed
    order: for vendors that can only filter ``modified >= t`` (or re-read a window),
    the rows a page already handed out are dropped with this."""
    after = keyset_after(cursor)
    if after is None:
        return True
    moment, last_id = after
    if last_id is None:
        return modified_at >= moment
    return (modified_at, record_id) > (moment, last_id)


def _no_answer(request: WriteRequest) -> RecordError:
    return RecordError(
        code="NO_RESULT",
        message="the vendor answered no result for this record",
        # An update is safe to send again; a create might have been made.
        retryable=request.op == "update",
    )


def results_in_order(
    requests: Sequence[WriteRequest],
    answers: Mapping[str, WriteResult],
    *,
    missing: Callable[[WriteRequest], RecordError] = _no_answer,
) -> list[WriteResult]:
    """One result per request, in request order: ``answers`` keyed by ``ref``; a
    request without an answer gets ``missing(request)`` as its error (by default
    ``NO_RESULT``, retryable for an update only)."""
    results: list[WriteResult] = []
    for request in requests:
        found = answers.get(request.ref)
        if found is None:
            found = WriteResult(
                ref=request.ref,
                ok=False,
                record_id=request.record_id,
                error=missing(request),
            )
        elif found.ref != request.ref:
            found = found.model_copy(update={"ref": request.ref})
        results.append(found)
    return results


def checked_page_token(
    token: str, *, prefixes: Sequence[str], connector: str | None = None
) -> str:
    """A page token that is a relative link under one of ``prefixes`` (a vendor's
    next-records path), refused otherwise: the engine stores page tokens, and one
    that names another host or climbs out with ``..`` must never get a credential.
    Absolute links are checked by :meth:`ConnectorHttp.resolve` instead."""
    path = token.split("?", 1)[0]
    if (
        not any(path.startswith(prefix) for prefix in prefixes)
        or ".." in path
        or "//" in path
    ):
        raise PermanentError(
            "page token is not one of this vendor's next-page links",
            code="INVALID_PAGE_TOKEN",
            connector=connector,
        )
    return token
