"""The change feed over Zoho's ``If-Modified-Since`` reads, in ``(modified_at, id)`` order.

Zoho sorts by ``Modified_Time`` (whole seconds) and leaves the order of records sharing
a second to itself, while crmsync's feed is ordered by ``(modified_at, record_id)`` and
resumes strictly after a cursor. So a read buffers what Zoho returns and hands out only
*complete* seconds: every second before the last one a vendor page reached, sorted by
id; the last second waits for the next vendor page (or the end).

The next vendor page restarts at that last second (``If-Modified-Since`` is inclusive of
its second) rather than asking for ``page + 1``: an offset shifts when a record already
read is edited during the read, and a restart cannot skip anything. Only while a whole
vendor page shares one second (a bulk job stamping more records per second than a page
holds) does the read go on with ``page`` (to record 2,000) and then ``page_token``.

Deleted records come from ``/{module}/deleted`` (2 credits a call, read every
``deletions_every`` seconds) and are merged into the same order as tombstones. The
deleted list's own watermark travels in ``Cursor.token``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crmsync.contract import ChangedRecord, ChangePage, Cursor, Tombstone
from crmsync.errors import PermanentError
from crmsync_zoho._errors import CONNECTOR
from crmsync_zoho._values import parse_datetime

__all__ = ["DeletedFetch", "FeedReader", "PageFetch", "VendorPage"]

PAGE_WINDOW = 2000  # records reachable through ``page`` (fact sheet 4.1)
_KEEP_READS = 16
Key = tuple[dt.datetime, str]


@dataclass(frozen=True)
class VendorPage:
    rows: list[dict[str, Any]]
    more: bool
    next_token: str | None


PageFetch = Callable[[dt.datetime | None, int, str | None], VendorPage]
"""(If-Modified-Since, page, page_token) -> one vendor page."""
DeletedFetch = Callable[[dt.datetime | None], list[dict[str, Any]]]
"""If-Modified-Since -> every deleted-list entry since then."""
RowToRecord = Callable[[dict[str, Any], dt.datetime], ChangedRecord]


@dataclass
class _Read:
    since: dt.datetime | None
    after: Key | None
    token: str | None
    pages: int = 0
    page: int = 1
    page_token: str | None = None
    exhausted: bool = False
    horizon: dt.datetime | None = None  # first second not known complete
    rows: dict[str, tuple[Key, ChangedRecord]] = field(default_factory=dict)
    tombstones: list[tuple[Key, Tombstone]] = field(default_factory=list)
    revisits: list[ChangedRecord] = field(default_factory=list)


def _second(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(microsecond=0)


def _key(cursor: Cursor | None) -> Key | None:
    if cursor is None or cursor.modified_at is None:
        return None
    return (cursor.modified_at, cursor.record_id or "")


class FeedReader:
    """Reads of one object's feed; reads in progress are kept per connector instance
    (a page token names one), and a token from another process restarts at its
    position."""

    def __init__(
        self,
        object_name: str,
        *,
        fetch_page: PageFetch,
        fetch_deleted: DeletedFetch,
        to_record: RowToRecord,
        per_page: int,
        deletions_every: float,
        clock: Callable[[], float],
    ) -> None:
        self.object_name = object_name
        self._per_page = per_page
        self._fetch_page = fetch_page
        self._fetch_deleted = fetch_deleted
        self._to_record = to_record
        self._deletions_every = deletions_every
        self._clock = clock
        self._reads: OrderedDict[str, _Read] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- reads -----------------------------------------------------------------------------
    def page(
        self,
        cursor: Cursor | None,
        page: str | None,
        page_size: int,
        *,
        revisit: Callable[[], list[ChangedRecord]] | None = None,
    ) -> ChangePage:
        """One page of the feed. ``revisit`` (first page only) gives records from before
        the cursor that must be handed out again (a conversion found by a failed write):
        they lead the read, outside the order, and never move its cursor."""
        if page is None:
            read_id, read = self._start(cursor)
            start = _key(cursor)
            for record in revisit() if revisit is not None else []:
                key = (record.modified_at, record.record_id)
                if start is not None and key <= start:
                    read.revisits.append(record)
        else:
            read_id, read = self._resume(page)
        while not read.exhausted and self._complete_count(read) < page_size:
            self._pull(read)
        items = self._take(read, page_size)
        position = cursor if page is None else self._token_cursor(page)
        last = max((k for k, _ in items), default=None)
        start = _key(position)
        if last is not None and (start is None or last > start):
            position = Cursor(modified_at=last[0], record_id=last[1])
        base = position or Cursor()
        position = base.model_copy(update={"token": read.token})
        if last is not None:
            read.after = max(read.after, last) if read.after else last
        more = not read.exhausted or bool(read.rows) or bool(read.tombstones)
        next_page = None
        if more:
            read.pages += 1
            next_page = json.dumps(
                {"r": read_id, "n": read.pages, "a": [read.after[0].isoformat(), read.after[1]]
                 if read.after else None, "t": read.token},
                separators=(",", ":"),
            )
            with self._lock:
                self._reads[read_id] = read
                self._reads.move_to_end(read_id)
                while len(self._reads) > _KEEP_READS:
                    self._reads.popitem(last=False)
        else:
            with self._lock:
                self._reads.pop(read_id, None)
        revisited, read.revisits = read.revisits, []
        return ChangePage(
            records=(*revisited,
                     *(item for _, item in items if isinstance(item, ChangedRecord))),
            tombstones=tuple(item for _, item in items if isinstance(item, Tombstone)),
            cursor=position,
            next_page=next_page,
        )

    def _start(self, cursor: Cursor | None) -> tuple[str, _Read]:
        after = _key(cursor)
        since = _second(cursor.modified_at) if cursor and cursor.modified_at else None
        token, tombstones = self._deletions(cursor)
        read = _Read(since=since, after=after, token=token)
        read.tombstones = tombstones
        return f"{self.object_name}:{next(self._ids)}", read

    def _resume(self, page: str) -> tuple[str, _Read]:
        try:
            state = json.loads(page)
            read_id = str(state["r"])
            raw_after = state["a"]
            after = (parse_datetime(raw_after[0]), str(raw_after[1])) if raw_after else None
            token = state.get("t")
        except (ValueError, KeyError, TypeError, IndexError):
            raise PermanentError(
                "page token is not one of this connector's", code="INVALID_PAGE_TOKEN",
                connector=CONNECTOR, object_name=self.object_name,
            ) from None
        with self._lock:
            read = self._reads.get(read_id)
        if read is None:  # another process's token: restart the read at its position
            since = _second(after[0]) if after else None
            read = _Read(since=since, after=after, token=token)
        return read_id, read

    def _token_cursor(self, page: str) -> Cursor | None:
        state = json.loads(page)
        if not state.get("a"):
            return None
        return Cursor(modified_at=parse_datetime(state["a"][0]), record_id=state["a"][1])

    def _deletions(self, cursor: Cursor | None) -> tuple[str | None, list[tuple[Key, Tombstone]]]:
        """Tombstones since the deleted list's watermark, when a poll is due."""
        state: dict[str, Any] = {}
        if cursor is not None and cursor.token:
            try:
                state = dict(json.loads(cursor.token))
            except (ValueError, TypeError):
                state = {}
        if cursor is None or cursor.modified_at is None:
            # A first read links nothing yet, so there is nothing to unlink: the list is
            # read from the next read on (a record deleted meanwhile is found missing on
            # its next update, which unlinks it as well).
            return json.dumps({"d": None, "p": None}), []
        now = self._clock()
        polled = state.get("p")
        if self._deletions_every > 0 and isinstance(polled, (int, float)) and (
            now - polled < self._deletions_every
        ):
            return cursor.token, []
        since_raw = state.get("d")
        since = parse_datetime(since_raw) if isinstance(since_raw, str) else _second(
            cursor.modified_at
        )
        entries = self._fetch_deleted(since)
        tombstones: list[tuple[Key, Tombstone]] = []
        latest = since
        for entry in entries:
            deleted_at = parse_datetime(str(entry["deleted_time"]))
            record_id = str(entry["id"])
            latest = max(latest, deleted_at)
            tombstones.append(
                ((deleted_at, record_id), Tombstone(record_id=record_id, deleted_at=deleted_at))
            )
        tombstones.sort(key=lambda item: item[0])
        token = json.dumps({"d": _second(latest).isoformat(), "p": now})
        return token, tombstones

    def _pull(self, read: _Read) -> None:
        """One vendor page into the buffer; moves the horizon and the continuation."""
        if read.page_token is not None:
            page = self._fetch_page(read.since, 1, read.page_token)
        else:
            page = self._fetch_page(read.since, read.page, None)
        last_second: dt.datetime | None = None
        first_second: dt.datetime | None = None
        for row in page.rows:
            stamp = parse_datetime(str(row["Modified_Time"]))
            record = self._to_record(row, stamp)
            key = (stamp, record.record_id)
            last_second = _second(stamp)
            first_second = first_second or last_second
            if read.after is not None and key <= read.after:
                continue  # read before (the inclusive second re-read)
            held = read.rows.get(record.record_id)
            if held is None or held[0] < key:
                read.rows[record.record_id] = (key, record)
        if not page.more or last_second is None:
            read.exhausted = True
            read.horizon = None
            return
        read.horizon = last_second
        if first_second is not None and first_second < last_second:
            # Restarting at the last second re-reads only that second's records.
            read.since, read.page, read.page_token = last_second, 1, None
        elif page.next_token is not None and (read.page + 1) * self._per_page > PAGE_WINDOW:
            read.page_token = page.next_token
        elif read.page_token is not None:
            if page.next_token is None:
                raise PermanentError(
                    "Zoho said more records follow but gave no next_page_token",
                    code="BAD_RESPONSE", connector=CONNECTOR, object_name=self.object_name,
                )
            read.page_token = page.next_token
        else:
            read.page += 1

    def _complete(self, read: _Read, key: Key) -> bool:
        return read.exhausted or read.horizon is None or _second(key[0]) < read.horizon

    def _complete_count(self, read: _Read) -> int:
        if read.exhausted:
            return len(read.rows) + len(read.tombstones)
        rows = sum(1 for key, _ in read.rows.values() if self._complete(read, key))
        return rows + sum(1 for key, _ in read.tombstones if self._complete(read, key))

    def _take(self, read: _Read, page_size: int) -> list[tuple[Key, ChangedRecord | Tombstone]]:
        pool: list[tuple[Key, ChangedRecord | Tombstone]] = [
            (key, record) for key, record in read.rows.values() if self._complete(read, key)
        ]
        pool += [(key, stone) for key, stone in read.tombstones if self._complete(read, key)]
        pool.sort(key=lambda item: item[0])
        taken = pool[:page_size]
        for key, item in taken:
            if isinstance(item, ChangedRecord):
                read.rows.pop(item.record_id, None)
            else:
                read.tombstones.remove((key, item))
        return taken
