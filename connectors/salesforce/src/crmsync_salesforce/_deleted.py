"""The getDeleted sweep: deletions the change feed can no longer show.

The feed (``queryAll`` ordered by SystemModstamp) shows a deleted record only while it
sits in the Recycle Bin. ``emptyRecycleBin``, the 15-day purge and the capacity purge
(entries older than two hours, when the bin is full) remove it, and then only
``getDeleted`` remembers it, for 15 days (fact sheet, sections 4 and 8). So when the
read's cursor, or the last sweep, is older than :data:`SWEEP_EVERY` (no cycle ran for that
long), the first page of a read asks getDeleted for the deletions since then and reports
them as tombstones; the time it covered and the time it ran ride in the cursor's opaque
``token``. Every time here is the org's: the connector passes its own clock corrected by
the offset measured from the org's ``Date`` headers, so a skewed host neither hides a
lost deletion nor makes a recent cursor look too old. If getDeleted no longer
reaches back that far (its ``earliestDateAvailable`` is later, or the last sweep is more
than 15 days old), deletions were lost: that is logged
(``salesforce.deletions_beyond_window``) and the page says so
(``ChangePage.deletions_unknown_before``), so the engine asks ``missing_records`` about
every linked id of the object (contract 1.2), once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from crmsync.contract import Cursor, Tombstone
from crmsync_salesforce._values import format_datetime, parse_datetime, to_18

__all__ = ["SWEEP_EVERY", "Sweep", "checked_token", "sweep", "sweep_since"]

log = structlog.get_logger("crmsync.salesforce")

# The capacity purge only takes entries older than two hours: a feed read within two
# hours of the last sweep has seen every deletion still in the bin, except after a
# manual emptyRecycleBin, which the next sweep (at most two hours on) reports.
SWEEP_EVERY = dt.timedelta(hours=2)
DELETED_WINDOW = dt.timedelta(days=15)
_TOKEN = "deletes-checked:"


@dataclass(frozen=True)
class Sweep:
    """What one getDeleted call found."""

    tombstones: tuple[Tombstone, ...]
    covered: dt.datetime
    lost: bool
    ran_at: dt.datetime
    calls: int = 1
    unknown_before: dt.datetime | None = None
    """When ``lost``: the moment before which getDeleted no longer answers."""

    @property
    def token(self) -> str:
        """The cursor token recording how far deletions have been checked, and when
        (both org times)."""
        return checked_token(self.covered, self.ran_at)


def checked_token(covered: dt.datetime, ran_at: dt.datetime) -> str:
    return f"{_TOKEN}{format_datetime(covered)};{format_datetime(ran_at)}"


def _checked(cursor: Cursor) -> tuple[dt.datetime, dt.datetime] | None:
    token = cursor.token or ""
    if not token.startswith(_TOKEN):
        return None
    covered, _, ran_at = token[len(_TOKEN) :].partition(";")
    try:
        return parse_datetime(covered), parse_datetime(ran_at)
    except ValueError:
        return None


def sweep_since(cursor: Cursor | None, now: dt.datetime) -> dt.datetime | None:
    """Where a sweep due for ``cursor`` starts, or ``None`` when none is due (a first
    read, a recent feed position, or a sweep that ran less than :data:`SWEEP_EVERY`
    ago; ``now`` is the org's time)."""
    if cursor is None or cursor.modified_at is None:
        return None
    checked = _checked(cursor)
    if checked is not None:
        covered, ran_at = checked
        return covered if now - ran_at > SWEEP_EVERY else None
    if now - cursor.modified_at <= SWEEP_EVERY:
        return None
    return cursor.modified_at


def sweep(
    get_json: Callable[[str, dict[str, str]], Any],
    base: str,
    object_name: str,
    since: dt.datetime,
    now: dt.datetime,
) -> Sweep | None:
    """Ask getDeleted for ``object_name``'s deletions from ``since`` to ``now`` (one call;
    ``None`` when the window is under a minute, getDeleted's resolution)."""
    floor = now - DELETED_WINDOW + dt.timedelta(minutes=1)
    start = max(since, floor).replace(second=0, microsecond=0)
    end = now.replace(second=0, microsecond=0)
    if end <= start:
        return None
    body = get_json(
        f"{base}/sobjects/{object_name}/deleted/",
        {"start": format_datetime(start), "end": format_datetime(end)},
    )
    tombstones = tuple(
        Tombstone(
            record_id=to_18(str(item["id"])),
            deleted_at=parse_datetime(str(item["deletedDate"])),
        )
        for item in body.get("deletedRecords") or []
        if isinstance(item, dict) and item.get("id") and item.get("deletedDate")
    )
    earliest_text = body.get("earliestDateAvailable")
    earliest = parse_datetime(str(earliest_text)) if earliest_text else None
    covered_text = body.get("latestDateCovered")
    covered = parse_datetime(str(covered_text)) if covered_text else end
    lost = since < floor or (earliest is not None and earliest > since)
    log.info(
        "salesforce.deleted_sweep",
        object_name=object_name,
        since=format_datetime(start),
        until=format_datetime(covered),
        deleted=len(tombstones),
        calls=1,
    )
    if lost:
        log.warning(
            "salesforce.deletions_beyond_window",
            object_name=object_name,
            checked_until=format_datetime(since),
            earliest_date_available=earliest_text or format_datetime(floor),
            hint="deletions purged before getDeleted's window cannot be reported; the "
            "engine asks which linked records still exist (missing_records)",
        )
    return Sweep(
        tombstones=tombstones,
        covered=max(covered, start),
        lost=lost,
        ran_at=now,
        unknown_before=max(floor, earliest or floor) if lost else None,
    )
