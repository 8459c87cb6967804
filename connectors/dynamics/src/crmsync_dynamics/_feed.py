"""The change feed: change tracking where the table has it, the ``modifiedon``
watermark where it does not (fact sheet section 4).

Reads that start a feed, or resume one by position, are watermark reads:
``modifiedon ge T`` ordered by ``modifiedon, <primary key>``, asking one row more than
the page so that the page can end on a whole second. A page never splits the rows
that share a second (a tie group wider than a page is read whole), so the feed's
``(modified_at, record_id)`` order never depends on how the server orders GUIDs.

With change tracking, a delta token is taken *before* the first watermark read (an
id-only tracked read), kept in the cursor as ``pending:<token>`` while that read runs
and as ``delta:<token>`` once it has ended; later reads are ``$deltatoken`` reads,
which also report deletions. A token the server no longer honours (retention, 7 days by
default) starts a full re-read, never a gap.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import httpx

from crmsync.authoring import MonotonicCursor
from crmsync.contract import ChangedRecord, ChangePage, Cursor, RecordRef, Tombstone
from crmsync.errors import PermanentError
from crmsync_dynamics._errors import CONNECTOR, DELTA_EXPIRED_MESSAGE
from crmsync_dynamics._org import TABLES, Org, Table
from crmsync_dynamics._values import Attribute, format_datetime, from_wire, parse_datetime

__all__ = ["Feed", "FeedMode"]

log = logging.getLogger("crmsync_dynamics")
FeedMode = Literal["change_tracking", "modifiedon"]
MAX_PAGE = 5000
_IN_CHUNK = 50  # ids per "or" filter: well inside the 32 KB URL limit
_DELTA_EXPIRED_CODES = {"0x80044352"}
Row = dict[str, Any]
Key = tuple[dt.datetime, str]


def _delta_token_of(link: str) -> str | None:
    for name, value in parse_qsl(urlsplit(link).query, keep_blank_values=True):
        if name == "$deltatoken":
            return value
    return None


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Feed:
    """``fetch_changed`` for one connection."""

    def __init__(self, org: Org, clock: Callable[[], float]) -> None:
        self.org = org
        self.clock = clock
        self._announced: set[str] = set()

    # -- which feed ------------------------------------------------------------------------
    def mode(self, object_name: str) -> FeedMode:
        """The feed this org gets for ``object_name`` (logged once per connection, so
        ``crmsync doctor`` and run logs say which)."""
        setting = self.org.settings.change_feed
        if setting == "modifiedon":
            mode: FeedMode = "modifiedon"
        else:
            enabled = self.org.change_tracking(object_name)
            if setting == "change_tracking" and not enabled:
                raise PermanentError(
                    f"change tracking is off for the {object_name} table",
                    code="CHANGE_TRACKING_OFF",
                    connector=CONNECTOR,
                    object_name=object_name,
                    hint="turn on 'Track changes' for the table (make.powerapps.com > Tables "
                    "> the table > Properties > Advanced options), or set "
                    "CRMSYNC_DYNAMICS_CHANGE_FEED=auto",
                )
            mode = "change_tracking" if enabled else "modifiedon"
        if object_name not in self._announced:
            self._announced.add(object_name)
            if mode == "change_tracking":
                log.info(
                    "dynamics feed for %s: change tracking (delta tokens; deletions reported)",
                    object_name,
                )
            else:
                log.warning(
                    "dynamics feed for %s: modifiedon watermark (change tracking is off or "
                    "not chosen; deletions are not reported, a later update of a deleted "
                    "record unlinks it)",
                    object_name,
                )
        return mode

    # -- the hook ----------------------------------------------------------------------------
    def fetch(
        self,
        object_name: str,
        fields: Sequence[str],
        cursor: Cursor | None,
        page: str | None,
        page_size: int,
    ) -> ChangePage:
        table = self.org.table(object_name)
        attributes = self.org.attributes(object_name)
        unknown = [name for name in fields if name not in attributes]
        if unknown:
            raise PermanentError(
                f"{object_name} has no column {unknown[0]!r}",
                code="0x0",
                field=unknown[0],
                connector=CONNECTOR,
                object_name=object_name,
            )
        size = max(1, min(page_size, self.org.settings.page_size, MAX_PAGE - 1))
        if page is not None:
            state = self._page_state(page)
            if state["k"] == "dl":
                return self._delta(table, attributes, fields, cursor, state["u"], state["d"], size)
            after = None if state.get("re") else cursor
            return self._watermark(
                table,
                attributes,
                fields,
                after,
                self._carried(cursor, state.get("p")),
                state["op"],
                parse_datetime(state["t"]),
                state.get("d"),
                bool(state.get("re")),
                size,
            )
        token = cursor.token if cursor is not None else None
        if self.mode(object_name) == "modifiedon":
            return self._from_position(table, attributes, fields, cursor, None, size)
        if token and token.startswith("delta:"):
            return self._delta(table, attributes, fields, cursor, None, token[6:], size)
        if token and token.startswith("dnext:"):
            state = self._page_state(token[6:])
            return self._delta(table, attributes, fields, cursor, state["u"], state["d"], size)
        if token and token.startswith("pending:"):
            return self._from_position(table, attributes, fields, cursor, token[8:], size)
        return self._from_position(
            table, attributes, fields, cursor, self._new_delta_token(table), size
        )

    def _from_position(
        self,
        table: Table,
        attributes: Mapping[str, Attribute],
        fields: Sequence[str],
        cursor: Cursor | None,
        delta: str | None,
        size: int,
    ) -> ChangePage:
        start = cursor.modified_at if cursor is not None else None
        return self._watermark(
            table, attributes, fields, cursor, cursor, "ge", start, delta, False, size
        )

    @staticmethod
    def _carried(cursor: Cursor | None, carried: Any) -> Cursor | None:
        """The read's starting cursor, or the position the previous page reached if
        that is further (a later page, even an empty one, never ends behind it)."""
        if not isinstance(carried, list) or len(carried) != 2 or not carried[0]:
            return cursor
        reached = Cursor(
            modified_at=parse_datetime(str(carried[0])),
            record_id=str(carried[1]) if carried[1] else None,
            token=cursor.token if cursor is not None else None,
        )
        if cursor is not None and cursor.sort_key() > reached.sort_key():
            return cursor
        return reached

    @staticmethod
    def _page_state(text: str) -> dict[str, Any]:
        try:
            state = json.loads(text)
        except ValueError:
            state = None
        if not isinstance(state, dict) or state.get("k") not in {"wm", "dl"}:
            raise PermanentError(
                "page token is not one of this connector's",
                code="INVALID_PAGE_TOKEN",
                connector=CONNECTOR,
            )
        return state

    # -- requests --------------------------------------------------------------------------
    def _select(
        self, table: Table, attributes: Mapping[str, Attribute], fields: Sequence[str]
    ) -> str:
        wanted = [table.primary_key, "modifiedon"]
        for extra in ("merged", "masterid", "statecode"):
            if extra in attributes:
                wanted.append(extra)
        wanted += list(fields)
        names: list[str] = []
        for name in wanted:
            attribute = attributes.get(name)
            wire = attribute.wire_name if attribute is not None else name
            if wire not in names:
                names.append(wire)
        return ",".join(names)

    def get_link(self, link: str, object_name: str, prefer: str) -> httpx.Response:
        """GET a next link the server handed out, only if it points at this
        environment's Web API (the engine stores page tokens; a link must never take
        a credential elsewhere)."""
        if not link.startswith(self.org.api_root + "/"):
            raise PermanentError(
                "a page link does not point at this environment's Web API",
                code="INVALID_PAGE_TOKEN",
                connector=CONNECTOR,
                object_name=object_name,
            )
        return self.org.get(link, object_name=object_name, prefer=prefer)

    def _new_delta_token(self, table: Table) -> str:
        """A delta token for "now": an id-only tracked read to its last page (fact
        sheet 4b: the delta link comes on the last page only)."""
        prefer = f"odata.track-changes,odata.maxpagesize={MAX_PAGE}"
        response = self.org.get(
            table.entity_set,
            object_name=table.name,
            params={"$select": table.primary_key},
            prefer=prefer,
        )
        while True:
            body = self.org.json(response, table.name)
            next_link = body.get("@odata.nextLink")
            if not next_link:
                break
            response = self.get_link(str(next_link), table.name, prefer)
        token = _delta_token_of(str(body.get("@odata.deltaLink") or ""))
        if not token:
            raise PermanentError(
                f"Dataverse answered a change-tracking read of {table.entity_set} "
                "without a delta link",
                code="NO_DELTA_LINK",
                connector=CONNECTOR,
                object_name=table.name,
            )
        return token

    # -- watermark reads ---------------------------------------------------------------------
    def _watermark(
        self,
        table: Table,
        attributes: Mapping[str, Attribute],
        fields: Sequence[str],
        after: Cursor | None,
        floor: Cursor | None,
        op: str,
        moment: dt.datetime | None,
        delta: str | None,
        reread: bool,
        size: int,
    ) -> ChangePage:
        params = {
            "$select": self._select(table, attributes, fields),
            "$orderby": f"modifiedon asc,{table.primary_key} asc",
        }
        if moment is not None:
            params["$filter"] = f"modifiedon {op} {format_datetime(moment)}"
        body = self.org.json(
            self.org.get(
                table.entity_set,
                object_name=table.name,
                params=params,
                prefer=f"odata.maxpagesize={size + 1}",
            ),
            table.name,
        )
        rows: list[Row] = list(body.get("value") or [])
        more = bool(body.get("@odata.nextLink")) or len(rows) > size
        next_state: dict[str, Any] | None = None
        if more and rows:
            taken = rows[:size]
            look = rows[size] if len(rows) > size else None
            last = self._modified(taken[-1])
            if look is not None and self._modified(look) > last:
                rows = taken
                next_state = {"op": "gt", "t": format_datetime(last)}
            elif self._modified(taken[0]) < last:
                rows = [row for row in taken if self._modified(row) < last]
                next_state = {"op": "ge", "t": format_datetime(last)}
            else:  # one second holds more rows than a page: read that second whole
                rows = self._whole_second(table, params, last)
                next_state = {"op": "gt", "t": format_datetime(last)}
        keyed = sorted(((self._key(table, row), row) for row in rows), key=lambda pair: pair[0])
        if after is not None and after.record_id is not None and after.modified_at is not None:
            bound = (after.modified_at, after.record_id)
            keyed = [(key, row) for key, row in keyed if key > bound]
        records, tombstones = self._convert(table, attributes, fields, keyed)
        position = MonotonicCursor(floor)
        for key, _ in keyed:
            position.advance(*key)
        reached = position.cursor
        next_page = None
        if next_state is not None:
            next_state.update({"k": "wm", "d": delta, "re": reread})
            if reached.modified_at is not None:
                next_state["p"] = [reached.modified_at.isoformat(), reached.record_id]
            next_page = json.dumps(next_state, separators=(",", ":"))
        if reread and next_page is not None:
            # Mid re-read: keep the old position, so a stop resumes the re-read whole.
            cursor = Cursor(token=floor.token if floor is not None else None)
        else:
            cursor = position.cursor
            if delta is not None:
                state = "pending" if next_page is not None else "delta"
                cursor = cursor.model_copy(update={"token": f"{state}:{delta}"})
            elif cursor.token is not None:
                cursor = cursor.model_copy(update={"token": None})
        return ChangePage(
            records=tuple(records), tombstones=tuple(tombstones), cursor=cursor, next_page=next_page
        )

    def _whole_second(
        self, table: Table, params: Mapping[str, str], moment: dt.datetime
    ) -> list[Row]:
        query = dict(params)
        query["$filter"] = f"modifiedon eq {format_datetime(moment)}"
        prefer = f"odata.maxpagesize={MAX_PAGE}"
        response = self.org.get(
            table.entity_set, object_name=table.name, params=query, prefer=prefer
        )
        rows: list[Row] = []
        while True:
            body = self.org.json(response, table.name)
            rows += list(body.get("value") or [])
            next_link = body.get("@odata.nextLink")
            if not next_link:
                return rows
            response = self.get_link(str(next_link), table.name, prefer)

    # -- delta reads -----------------------------------------------------------------------
    def _delta(
        self,
        table: Table,
        attributes: Mapping[str, Attribute],
        fields: Sequence[str],
        cursor: Cursor | None,
        link: str | None,
        token: str,
        size: int,
    ) -> ChangePage:
        prefer = f"odata.track-changes,odata.maxpagesize={size}"
        try:
            if link is not None:
                response = self.get_link(link, table.name, prefer)
            else:
                response = self.org.get(
                    table.entity_set,
                    object_name=table.name,
                    params={
                        "$select": self._select(table, attributes, fields),
                        "$deltatoken": token,
                    },
                    prefer=prefer,
                )
        except PermanentError as error:
            if (
                error.code not in _DELTA_EXPIRED_CODES
                and DELTA_EXPIRED_MESSAGE not in error.message
            ):
                raise
            log.warning(
                "dynamics: the %s delta token has expired (%s); reading the table again",
                table.name,
                error.code,
            )
            fresh = self._new_delta_token(table)
            return self._watermark(
                table, attributes, fields, None, cursor, "ge", None, fresh, True, size
            )
        body = self.org.json(response, table.name)
        served_at = self._server_time(response)
        rows: list[Row] = []
        gone: list[Tombstone] = []
        for item in body.get("value") or []:
            context = str(item.get("@odata.context") or "")
            if context.endswith("/$deletedEntity") or item.get("reason") == "deleted":
                gone.append(Tombstone(record_id=str(item["id"]).lower(), deleted_at=served_at))
            else:
                rows.append(item)
        keyed = sorted(((self._key(table, row), row) for row in rows), key=lambda pair: pair[0])
        records, tombstones = self._convert(table, attributes, fields, keyed)
        tombstones += gone
        next_link = body.get("@odata.nextLink")
        if next_link:
            state = json.dumps({"k": "dl", "u": str(next_link), "d": token}, separators=(",", ":"))
            # Mid-read the position stays where the read began (not comparable), so a
            # stop resumes this page's read rather than skipping it.
            return ChangePage(
                records=tuple(records),
                tombstones=tuple(tombstones),
                cursor=Cursor(token=f"dnext:{state}"),
                next_page=state,
            )
        fresh = _delta_token_of(str(body.get("@odata.deltaLink") or "")) or token
        position = MonotonicCursor(cursor if cursor is not None and cursor.modified_at else None)
        for key, _ in keyed:
            position.advance(*key)
        for tombstone in gone:
            position.advance(tombstone.deleted_at, tombstone.record_id)
        moved = position.cursor
        if moved.modified_at is None or served_at > moved.modified_at:
            moved = Cursor(modified_at=served_at)
        return ChangePage(
            records=tuple(records),
            tombstones=tuple(tombstones),
            cursor=moved.model_copy(update={"token": f"delta:{fresh}"}),
            next_page=None,
        )

    def _server_time(self, response: httpx.Response) -> dt.datetime:
        """The server's clock (``Date``), which stamps deletions: a tombstone carries
        no time of its own."""
        header = response.headers.get("Date")
        if header:
            try:
                moment = email.utils.parsedate_to_datetime(header)
                return moment.astimezone(dt.UTC)
            except (TypeError, ValueError):
                pass
        return dt.datetime.fromtimestamp(int(self.clock()), dt.UTC)

    # -- rows -> records ---------------------------------------------------------------------
    @staticmethod
    def _modified(row: Row) -> dt.datetime:
        return parse_datetime(str(row["modifiedon"]))

    def _key(self, table: Table, row: Row) -> Key:
        return (self._modified(row), str(row[table.primary_key]).lower())

    def _convert(
        self,
        table: Table,
        attributes: Mapping[str, Attribute],
        fields: Sequence[str],
        keyed: Sequence[tuple[Key, Row]],
    ) -> tuple[list[ChangedRecord], list[Tombstone]]:
        records: list[ChangedRecord] = []
        tombstones: list[Tombstone] = []
        qualified: list[str] = []
        for (moment, record_id), row in keyed:
            master = row.get("_masterid_value")
            if row.get("merged") is True and master:
                tombstones.append(
                    Tombstone(
                        record_id=record_id, deleted_at=moment, merged_into=str(master).lower()
                    )
                )
                continue
            if table.name == "lead" and row.get("statecode") == 1:
                qualified.append(record_id)
            values = {
                name: from_wire(row.get(attributes[name].wire_name), attributes[name])
                for name in fields
            }
            records.append(ChangedRecord(record_id=record_id, modified_at=moment, values=values))
        if qualified:
            contacts = self._originating_contacts(qualified)
            records = [
                r.model_copy(
                    update={
                        "converted_to": RecordRef(
                            object_name="contact", record_id=contacts[r.record_id]
                        )
                    }
                )
                if r.record_id in contacts
                else r
                for r in records
            ]
        return records, tombstones

    def _originating_contacts(self, lead_ids: Sequence[str]) -> dict[str, str]:
        """Qualified lead -> the contact QualifyLead created from it (its
        ``originatingleadid``); the oldest one where there are several."""
        contacts = TABLES["contact"]
        found: dict[str, tuple[str, str]] = {}
        for start in range(0, len(lead_ids), _IN_CHUNK):
            chunk = lead_ids[start : start + _IN_CHUNK]
            condition = " or ".join(f"_originatingleadid_value eq {lead}" for lead in chunk)
            response = self.org.get(
                contacts.entity_set,
                object_name="contact",
                params={
                    "$select": "contactid,_originatingleadid_value,createdon",
                    "$filter": f"{condition}",
                },
                prefer=f"odata.maxpagesize={MAX_PAGE}",
            )
            while True:
                body = self.org.json(response, "contact")
                for row in body.get("value") or []:
                    lead = str(row.get("_originatingleadid_value") or "").lower()
                    candidate = (str(row.get("createdon") or ""), str(row["contactid"]).lower())
                    if lead and (lead not in found or candidate < found[lead]):
                        found[lead] = candidate
                next_link = body.get("@odata.nextLink")
                if not next_link:
                    break
                response = self.get_link(str(next_link), "contact", f"odata.maxpagesize={MAX_PAGE}")
        return {lead: contact for lead, (_, contact) in found.items()}


def quote_literal(value: str) -> str:
    """An OData string literal (``'`` doubled)."""
    return _quote(value)
