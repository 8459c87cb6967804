"""Collection and single-row reads: query options, paging cookies, change tracking."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlencode

from crmsync_dynamics.emulator._query import QueryError, parse_filter, parse_orderby, sort_rows
from crmsync_dynamics.emulator._schema import Table
from crmsync_dynamics.emulator._serialize import (
    column_for_property,
    row_json,
    selected_columns,
    wire_value,
)
from crmsync_dynamics.emulator._store import DataverseError, Row, sql_guid_key

if TYPE_CHECKING:
    from crmsync_dynamics.emulator._core import DataverseEmulator, Reply, Request

__all__ = ["collection", "single"]

MAX_PAGE = 5000
_COOKIE = re.compile(r'pagenumber="(\d+)"')
_TRACKING_VERSION = re.compile(r"trackingversion%253d%2522(\d+)%2522", re.IGNORECASE)
_TRACKED_REFUSED = ("$filter", "$orderby", "$expand", "$top")


def _getter(table: Table, sorting: bool = False) -> Any:
    def resolve(name: str) -> Any:
        column = column_for_property(table, name)
        if column is None:
            raise QueryError(
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.Dynamics.CRM.{table.logical_name}'."
            )
        if (sorting and column.type_name in {"UniqueidentifierType"}) or (
            sorting and column.is_lookup
        ):
            return lambda row: (
                None if row.get(column.name) is None else sql_guid_key(row[column.name])
            )
        return lambda row: row.get(column.name)

    return resolve


def _annotations(request: Request) -> tuple[bool, bool]:
    """(formatted values wanted, collection annotations wanted)."""
    wanted = request.prefer().get("odata.include-annotations", "")
    everything = wanted.strip() == "*"
    return everything or "FormattedValue" in wanted or "lookuplogicalname" in wanted, everything


def _page_size(request: Request) -> tuple[int, bool]:
    text = request.prefer().get("odata.maxpagesize")
    if text is None:
        return MAX_PAGE, False
    if not text.isdigit() or int(text) < 1:
        raise DataverseError(400, "0x0", f"The value '{text}' is not valid for odata.maxpagesize.")
    # Above 5,000 the real reaction is unconfirmed (fact sheet 4a): clamp, and say so by
    # echoing the value actually used.
    return min(int(text), MAX_PAGE), True


def _cookie(page: int, first: str, last: str, key: str, tracking: int | None) -> str:
    inner = f'<cookie page="{page - 1}"'
    if tracking is not None:
        inner += f' trackingversion="{tracking}"'
    inner += f'><{key} last="{{{last}}}" first="{{{first}}}" /></cookie>'
    encoded = quote(quote(inner, safe=""), safe="")
    flag = "True" if tracking is not None else "False"
    return f'<cookie pagenumber="{page}" pagingcookie="{encoded}" istracking="{flag}" />'


def _read_cookie(text: str) -> tuple[int, int | None]:
    match = _COOKIE.search(unquote(text))
    if match is None:
        raise DataverseError(400, "0x80040203", "Invalid paging cookie.")
    tracked = _TRACKING_VERSION.search(text) or _TRACKING_VERSION.search(unquote(text))
    return int(match.group(1)), int(tracked.group(1)) if tracked else None


def _link(emu: DataverseEmulator, table: Table, request: Request, **extra: str) -> str:
    dropped = {"$skiptoken", "$deltatoken"} if "$deltatoken" in extra else {"$skiptoken"}
    params = {k: v for k, v in request.query.items() if k not in dropped}
    params.update(extra)
    return f"{emu.api_root}/{table.entity_set}?" + urlencode(params, quote_via=quote, safe="$,'()")


def _delta_token(emu: DataverseEmulator, version: int) -> str:
    stamp = emu.clock.now().astimezone(dt.UTC).strftime("%m/%d/%Y %H:%M:%S")
    return f"{version}!{stamp}"


def _read_delta_token(emu: DataverseEmulator, token: str) -> int:
    version, _, stamp = token.partition("!")
    try:
        issued = dt.datetime.strptime(stamp, "%m/%d/%Y %H:%M:%S").replace(tzinfo=dt.UTC)
        number = int(version)
    except ValueError:
        raise DataverseError(400, "0x80040203", "The delta token is not valid.") from None
    if issued < emu.clock.now() - dt.timedelta(days=emu.change_tracking_expiry_days):
        emu.delta_token_refusals += 1
        # The message is the one reported from live orgs; the code is unconfirmed
        # (fact sheet 4b).
        raise DataverseError(
            400,
            "0x80044352",
            "Version stamp associated with the client has expired. Please perform a full sync.",
        )
    return number


def collection(emu: DataverseEmulator, table: Table, request: Request) -> Reply:
    from crmsync_dynamics.emulator._core import Reply

    query = request.query
    prefer = request.prefer()
    if "$skip" in query:
        raise DataverseError(400, "0x0", "The query parameter '$skip' is not supported.")
    delta = query.get("$deltatoken")
    # A tracked read's next link says so in its paging cookie (istracking="True").
    tracked_link = 'istracking="True"' in unquote(query.get("$skiptoken", ""))
    tracking = "odata.track-changes" in prefer or delta is not None or tracked_link
    data = emu.store.data(table.logical_name)
    if tracking:
        for name in _TRACKED_REFUSED:
            if name in query:
                raise DataverseError(
                    400,
                    "0x80040203",
                    f'The "{name}" query parameter isn\'t supported when Change Tracking '
                    "is enabled.",
                )
        if not data.change_tracking:
            raise DataverseError(
                400,
                "0x80040203",
                f"Change tracking is not enabled for the entity '{table.logical_name}'.",
            )
    columns = selected_columns(table, query.get("$select"))
    size, honoured = _page_size(request)
    formatted, collection_notes = _annotations(request)
    page_number, tracked_version = 1, None
    if "$skiptoken" in query:
        page_number, tracked_version = _read_cookie(query["$skiptoken"])
    tombstones: list[Any] = []
    with emu.store.lock:
        if delta is not None:
            since = _read_delta_token(emu, unquote(delta))
            rows, tombstones = emu.store.changes_since(table.logical_name, since)
            base_version = tracked_version if tracked_version is not None else emu.store.version
        elif tracking:
            rows = sort_rows(
                list(emu.store.all_rows(table.logical_name)),
                [(table.primary_key, False)],
                _getter(table, sorting=True),
            )
            base_version = tracked_version if tracked_version is not None else emu.store.version
        else:
            rows = list(emu.store.all_rows(table.logical_name))
            try:
                if "$filter" in query:
                    text = query["$filter"]
                    rows = [r for r in rows if parse_filter(text, _getter(table)).predicate(r)]
                keys = parse_orderby(query["$orderby"]) if "$orderby" in query else []
                if not any(name == table.primary_key for name, _ in keys):
                    keys.append((table.primary_key, False))
                rows = sort_rows(rows, keys, _getter(table, sorting=True))
            except QueryError as error:
                raise DataverseError(400, "0x0", str(error)) from None
            if "$top" in query and not honoured:
                top = query["$top"]
                if not top.isdigit():
                    raise DataverseError(400, "0x0", f"Invalid value '{top}' for $top.")
                rows = rows[: int(top)]
            base_version = None
        items: list[dict[str, Any]] = [
            row_json(table, r, columns, annotations=formatted) for r in rows
        ]
        for gone in tombstones:
            items.append(
                {
                    "@odata.context": f"{emu.api_root}/$metadata#{table.entity_set}/$deletedEntity",
                    "id": gone.record_id,
                    "reason": "deleted",
                }
            )
    start = (page_number - 1) * size
    page = items[start : start + size]
    more = start + size < len(items)
    select = query.get("$select")
    context = f"{emu.api_root}/$metadata#{table.entity_set}"
    if select:
        context += f"({select})"
    if delta is not None:
        context += "/$delta"
    body: dict[str, Any] = {"@odata.context": context}
    if collection_notes:
        body["@Microsoft.Dynamics.CRM.totalrecordcount"] = -1
        body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = False
        body["@Microsoft.Dynamics.CRM.globalmetadataversion"] = "90514433"
    if query.get("$count") == "true":
        body["@odata.count"] = min(len(items), 5000)
    body["value"] = page
    if more:
        key_of = [str(item.get(table.primary_key, item.get("id"))) for item in page] or [""]
        cookie = _cookie(page_number + 1, key_of[0], key_of[-1], table.primary_key, base_version)
        body["@odata.nextLink"] = _link(emu, table, request, **{"$skiptoken": cookie})
    elif tracking and base_version is not None:
        token = _delta_token(emu, base_version)
        body["@odata.deltaLink"] = _link(emu, table, request, **{"$deltatoken": token})
    applied = []
    if honoured:
        applied.append(f"odata.maxpagesize={size}")
    if tracking and "odata.track-changes" in prefer:
        applied.append("odata.track-changes")
    if formatted:
        applied.append(f'odata.include-annotations="{prefer.get("odata.include-annotations")}"')
    headers = {"Preference-Applied": ",".join(applied)} if applied else {}
    return Reply(200, body, headers)


def single(emu: DataverseEmulator, table: Table, record_id: str, request: Request) -> Reply:
    from crmsync_dynamics.emulator._core import Reply

    row = emu.store.require(table, record_id)
    columns = selected_columns(table, request.query.get("$select"))
    formatted, _ = _annotations(request)
    etag = f'W/"{row["versionnumber"]}"'
    if (
        request.headers.get("if-none-match") == etag
        and not formatted
        and "$expand" not in request.query
    ):
        return Reply(304)
    select = request.query.get("$select")
    body = {
        "@odata.context": f"{emu.api_root}/$metadata#{table.entity_set}"
        + (f"({select})" if select else "")
        + "/$entity",
        **row_json(table, row, columns, annotations=formatted),
    }
    return Reply(200, body)


def full_record(table: Table, row: Row) -> dict[str, Any]:
    """Every column of a row, nulls included (an action's answer)."""
    out: dict[str, Any] = {}
    for column in table.columns:
        name = f"_{column.name}_value" if column.is_lookup else column.name
        out[name] = wire_value(column, row.get(column.name))
    return out
