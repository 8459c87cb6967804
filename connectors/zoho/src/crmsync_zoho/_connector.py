"""``ZohoConnector``: the crmsync hooks over the Zoho CRM REST API (v8)."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pydantic_settings import BaseSettings

from crmsync.authoring import ConnectorHttp, RefreshTokenStore, TokenCache
from crmsync.contract import (
    Capability,
    ChangedRecord,
    ChangePage,
    ClockOffset,
    ConnectorDescription,
    Cursor,
    FieldSpec,
    RecordError,
    RecordPage,
    RecordRef,
    WriteRequest,
    WriteResult,
    hookimpl,
)
from crmsync.errors import ConfigurationError, PermanentError
from crmsync_zoho._auth import ZohoAuth
from crmsync_zoho._errors import CONNECTOR, ERRORS, RETRYABLE_ITEM_CODES
from crmsync_zoho._feed import FeedReader, VendorPage
from crmsync_zoho._settings import API_VERSION, GUARD, ZohoSettings
from crmsync_zoho._values import (
    field_spec,
    format_datetime,
    from_wire,
    parse_datetime,
    to_wire,
    wire_problem,
)

__all__ = ["MAX_BATCH", "MAX_CONCURRENCY", "OBJECTS", "ZohoConnector"]

OBJECTS = ("Leads", "Contacts")
MAX_BATCH = 100  # records per insert/update call (fact sheet section 5)
MAX_FIELDS = 50  # API names per `fields` parameter (fact sheet section 2)
# Zoho caps simultaneous calls per org and client app by edition (Free 5 ... Ultimate 25)
# and resource-heavy calls (bulk writes, COQL) at 10. The description is static, so it
# declares what the smallest edition allows: the engine runs up to this many pushes plus
# one call of its own thread (a lookup), 4 in flight, one under Free's 5 for the org's
# other users of the same client.
MAX_CONCURRENCY = 3
COQL_VALUES = 50  # values per `in (...)` (fact sheet 4.2)
COQL_LIMIT = 200  # rows per COQL call: 1 credit up to 200 (2,000 would cost 3)
_FEED_FIELDS = ("Modified_Time",)
_LEAD_FIELDS = ("Converted_Contact",)
# Per-record error details worth showing an operator (fact sheet section 5).
_DETAIL_KEYS = ("maximum_length", "expected_data_type", "supported_values")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_USER_AGENT = "crmsync-zoho/0.1.0"


def _lookup_chunks(values: Sequence[str]) -> list[list[str]]:
    """The COQL ``in`` lists for ``values``: each trimmed value as given and lower-cased
    (COQL's case sensitivity on text is unconfirmed; matches are checked
    case-insensitively here), at most 50 terms a list, a value's terms never split."""
    chunks: list[list[str]] = []
    seen: set[str] = set()
    for value in values:
        cleaned = value.strip()
        if not cleaned or cleaned.lower() in seen:
            continue
        seen.add(cleaned.lower())
        terms = [cleaned] if cleaned == cleaned.lower() else [cleaned, cleaned.lower()]
        if not chunks or len(chunks[-1]) + len(terms) > COQL_VALUES:
            chunks.append([])
        chunks[-1].extend(terms)
    return chunks


def _lookup_position(page: str | None, chunks: int) -> tuple[int, int]:
    if page is None:
        return 0, 0
    try:
        state = json.loads(page)
        chunk, offset = int(state["c"]), int(state["o"])
    except (ValueError, KeyError, TypeError):
        chunk, offset = -1, -1
    if not 0 <= chunk < chunks or offset < 0:
        raise PermanentError("lookup page token is not one of this connector's",
                             code="INVALID_PAGE_TOKEN", connector=CONNECTOR)
    return chunk, offset


def _coql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ZohoConnector:
    """Lead and Contact sync with one Zoho CRM org."""

    @staticmethod
    @hookimpl
    def describe_connector() -> ConnectorDescription:
        return ConnectorDescription(
            id="zoho",
            name="Zoho CRM",
            contract_version="1.1",
            objects=OBJECTS,
            person_objects=("Contacts", "Leads"),
            max_batch_size=MAX_BATCH,
            max_page_size=200,
            max_concurrency=MAX_CONCURRENCY,
            capabilities=frozenset(
                {
                    Capability.DELETIONS,
                    Capability.CONVERSIONS,
                    Capability.LOOKUP,
                    Capability.FAULT_INJECTION,
                }
            ),
            settings_model=ZohoSettings,
            role="crm",
            # Modified_Time has whole seconds: a write landing later in the second the
            # last read ended in shares its stamp. Re-reading two seconds back catches it
            # (the feed drops what it already handed out by (time, id)).
            late_commit_seconds=2.0,
            # Modified_Time counts whole seconds: compared with a finer platform time
            # at that precision, a same-second conflict is a tie the CRM wins.
            timestamp_precision_seconds=1.0,
            emulator="crmsync_zoho.emulator:serve",
        )

    def __init__(
        self,
        settings: BaseSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        token_cache: TokenCache | None = None,
    ) -> None:
        if not isinstance(settings, ZohoSettings):
            raise ConfigurationError("ZohoConnector needs ZohoSettings")
        self.settings = settings
        self._clock = clock or time.time
        self.auth = ZohoAuth(
            token_url=settings.accounts + "/oauth/v2/token",
            client_id=settings.client_id,
            client_secret=settings.secret(),
            store=RefreshTokenStore(settings.refresh_token, connector=CONNECTOR),
            clock=self._clock,
            token_cache=token_cache,
        )
        self.http = ConnectorHttp(
            connector=CONNECTOR,
            error_map=ERRORS,
            url_guard=GUARD,
            auth=self.auth,
            transport=transport,
            timeout=settings.timeout,
            max_connections=MAX_CONCURRENCY + 1,  # pushes plus the engine thread's call
            user_agent=_USER_AGENT,
            clock=self._clock,
        )
        self._lock = threading.Lock()
        self._fields: dict[str, list[dict[str, Any]]] = {}
        self._feeds: dict[tuple[str, tuple[str, ...]], FeedReader] = {}
        # Leads an update found converted (CONVERTED_RECORD): whether converting moves a
        # lead's Modified_Time is unconfirmed, so the next Leads read fetches them by id
        # and reports their conversion rather than waiting for the feed to show it.
        self._converted: set[str] = set()

    def __repr__(self) -> str:
        return (
            f"ZohoConnector(data_centre={self.settings.data_centre!r}, "
            f"accounts={self.settings.accounts!r})"
        )

    # -- plumbing ----------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.auth.api_domain}/crm/{API_VERSION}/{path}"

    def _check_object(self, object_name: str) -> str:
        if object_name not in OBJECTS:
            raise PermanentError(
                f"Zoho CRM connector has no object {object_name!r} (it syncs "
                f"{', '.join(OBJECTS)})",
                code="UNKNOWN_OBJECT",
                connector=CONNECTOR,
            )
        return object_name

    def _metadata(self, object_name: str) -> list[dict[str, Any]]:
        with self._lock:
            cached = self._fields.get(object_name)
        if cached is not None:
            return cached
        response = self.http.request(
            "GET", self._url("settings/fields"), params={"module": object_name},
            object_name=object_name,
        )
        fields: list[dict[str, Any]] = []
        if response.status_code == 200:  # 204: no metadata (fact sheet section 3)
            body = self.http.json(response, object_name=object_name)
            fields = [f for f in body.get("fields") or [] if isinstance(f, dict)
                      and isinstance(f.get("api_name"), str)]
        with self._lock:
            self._fields[object_name] = fields
        return fields

    def _types(self, object_name: str) -> dict[str, str]:
        return {str(f["api_name"]): str(f.get("data_type") or "")
                for f in self._metadata(object_name)}

    def _read_only(self, object_name: str) -> set[str]:
        return {spec.name for spec in self.list_fields(object_name) if spec.read_only}

    def _field_list(self, object_name: str, fields: Sequence[str]) -> list[str]:
        wanted: list[str] = []
        extra = _LEAD_FIELDS if object_name == "Leads" else ()
        for name in (*fields, *_FEED_FIELDS, *extra):
            if not _NAME.match(name):
                raise PermanentError(f"{name!r} is not a Zoho API name", code="INVALID_FIELD",
                                     field=name, connector=CONNECTOR, object_name=object_name)
            if name != "id" and name not in wanted:
                wanted.append(name)
        if len(wanted) > MAX_FIELDS:
            raise PermanentError(
                f"{len(wanted)} fields of {object_name} are read (the mapped ones plus "
                f"{', '.join((*_FEED_FIELDS, *extra))}) but Zoho returns at most "
                f"{MAX_FIELDS} per call",
                code="LIMIT_EXCEEDED",
                connector=CONNECTOR,
                object_name=object_name,
                hint=f"map at most {MAX_FIELDS - len(_FEED_FIELDS) - len(extra)} fields of "
                f"{object_name}",
            )
        return wanted

    def _to_record(self, object_name: str, fields: Sequence[str], types: dict[str, str],
                   row: dict[str, Any], stamp: dt.datetime) -> ChangedRecord:
        converted = None
        contact = row.get("Converted_Contact")
        if object_name == "Leads" and isinstance(contact, dict) and contact.get("id"):
            converted = RecordRef(object_name="Contacts", record_id=str(contact["id"]))
        return ChangedRecord(
            record_id=str(row["id"]),
            modified_at=stamp,
            values={name: from_wire(row.get(name), types.get(name, "")) for name in fields},
            converted_to=converted,
        )

    # -- hooks -------------------------------------------------------------------------------
    @hookimpl
    def authenticate(self) -> None:
        self.auth.ensure_token(force=True)

    @hookimpl
    def list_fields(self, object_name: str) -> list[FieldSpec]:
        self._check_object(object_name)
        return [field_spec(meta) for meta in self._metadata(object_name)]

    @hookimpl
    def fetch_changed(
        self,
        object_name: str,
        fields: Sequence[str],
        cursor: Cursor | None,
        page: str | None,
        page_size: int,
    ) -> ChangePage:
        self._check_object(object_name)
        wanted = self._field_list(object_name, fields)
        key = (object_name, tuple(fields))
        with self._lock:
            reader = self._feeds.get(key)
        if reader is None:
            types = self._types(object_name)
            names = tuple(fields)

            def fetch_page(since: dt.datetime | None, number: int, token: str | None
                           ) -> VendorPage:
                return self._list_page(object_name, wanted, since, number, token)

            def to_record(row: dict[str, Any], stamp: dt.datetime) -> ChangedRecord:
                return self._to_record(object_name, names, types, row, stamp)

            reader = FeedReader(
                object_name,
                fetch_page=fetch_page,
                fetch_deleted=lambda since: self._deleted(object_name, since),
                to_record=to_record,
                per_page=self.settings.page_size,
                deletions_every=self.settings.deletions_every,
                clock=self._clock,
            )
            with self._lock:
                reader = self._feeds.setdefault(key, reader)
        revisit = None
        if object_name == "Leads" and page is None:
            def revisit() -> list[ChangedRecord]:
                return self._revisit_converted(wanted, tuple(fields))
        return reader.page(cursor, page, max(1, page_size), revisit=revisit)

    def _revisit_converted(self, wanted: list[str], fields: tuple[str, ...]
                           ) -> list[ChangedRecord]:
        with self._lock:
            ids = sorted(self._converted)
        if not ids:
            return []
        types = self._types("Leads")
        found: list[ChangedRecord] = []
        for start in range(0, len(ids), MAX_BATCH):
            chunk = ids[start:start + MAX_BATCH]
            response = self.http.request(
                "GET", self._url("Leads"), object_name="Leads",
                params={"fields": ",".join(wanted), "ids": ",".join(chunk),
                        "converted": "true", "per_page": MAX_BATCH},
            )
            if response.status_code == 200:
                body = self.http.json(response, object_name="Leads")
                for row in body.get("data") or []:
                    if isinstance(row, dict) and "id" in row and row.get("Modified_Time"):
                        stamp = parse_datetime(str(row["Modified_Time"]))
                        found.append(self._to_record("Leads", fields, types, row, stamp))
        with self._lock:
            self._converted.difference_update(ids)
        return [record for record in found if record.converted_to is not None]

    def _list_page(self, object_name: str, fields: list[str], since: dt.datetime | None,
                   number: int, token: str | None) -> VendorPage:
        params: dict[str, Any] = {
            "fields": ",".join(fields),
            "sort_by": "Modified_Time",
            "sort_order": "asc",
            "per_page": self.settings.page_size,
        }
        if object_name == "Leads":
            params["converted"] = "both"  # converted leads carry Converted_Contact
        if token is not None:
            params["page_token"] = token
        else:
            params["page"] = number
        headers = {"If-Modified-Since": format_datetime(since)} if since else None
        response = self.http.request("GET", self._url(object_name), params=params,
                                     headers=headers, object_name=object_name)
        if response.status_code in (204, 304):  # nothing (changed)
            return VendorPage([], False, None)
        body = self.http.json(response, object_name=object_name)
        rows = [r for r in body.get("data") or [] if isinstance(r, dict) and "id" in r]
        info = body.get("info") or {}
        next_token = info.get("next_page_token")
        return VendorPage(rows, bool(info.get("more_records")),
                          str(next_token) if next_token else None)

    def _deleted(self, object_name: str, since: dt.datetime | None) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        headers = {"If-Modified-Since": format_datetime(since)} if since else None
        number = 1
        while True:
            response = self.http.request(
                "GET", self._url(f"{object_name}/deleted"),
                params={"type": "all", "page": number, "per_page": 200},
                headers=headers, object_name=object_name,
            )
            if response.status_code in (204, 304):
                return entries
            body = self.http.json(response, object_name=object_name)
            entries += [e for e in body.get("data") or [] if isinstance(e, dict)
                        and e.get("id") and e.get("deleted_time")]
            if not (body.get("info") or {}).get("more_records"):
                return entries
            number += 1

    @hookimpl
    def push_updates(self, object_name: str, requests: Sequence[WriteRequest]
                     ) -> list[WriteResult]:
        self._check_object(object_name)
        types = self._types(object_name)
        read_only = self._read_only(object_name)
        results: list[WriteResult | None] = [None] * len(requests)
        wire: dict[int, dict[str, Any]] = {}
        for index, request in enumerate(requests):
            record, error = self._wire_record(request, types, read_only)
            if error is None:
                wire[index] = record
            else:
                results[index] = WriteResult(ref=request.ref, ok=False,
                                             record_id=request.record_id, error=error)
        updates = [i for i in wire if requests[i].op == "update"]
        creates = [i for i in wire if requests[i].op == "create"]
        # Updates first: if the create call then fails as a whole, the framework repeats
        # the batch, and repeating updates is harmless while repeating creates is not.
        for method, indexes in (("PUT", updates), ("POST", creates)):
            for start in range(0, len(indexes), MAX_BATCH):
                chunk = indexes[start:start + MAX_BATCH]
                items = self._write(object_name, method, [wire[i] for i in chunk])
                for index, item in zip(chunk, items, strict=True):
                    results[index] = self._result(requests[index], item)
        if object_name == "Leads":
            converted = {r.record_id for r in results if r is not None and r.error is not None
                         and r.error.code == "CONVERTED_RECORD" and r.record_id}
            with self._lock:
                self._converted.update(str(i) for i in converted)
        return [r for r in results if r is not None]

    def _wire_record(self, request: WriteRequest, types: dict[str, str], read_only: set[str]
                     ) -> tuple[dict[str, Any], RecordError | None]:
        record: dict[str, Any] = {}
        if request.op == "update":
            if not request.record_id:
                return record, RecordError(code="MANDATORY_NOT_FOUND",
                                           message="an update needs the record id",
                                           field="id")
            record["id"] = request.record_id
        for name, value in request.values.items():
            if name == "id":
                continue
            data_type = types.get(name)
            if data_type is None:
                return record, RecordError(code="INVALID_FIELD",
                                           message=f"Zoho has no field {name!r} on this module",
                                           field=name)
            if name in read_only:
                return record, RecordError(code="NOT_ALLOWED",
                                           message=f"{name} is read-only in Zoho", field=name)
            converted = to_wire(value, data_type)
            problem = wire_problem(converted, data_type)
            if problem is not None:
                return record, RecordError(code="INVALID_DATA", message=f"{name}: {problem}",
                                           field=name)
            record[name] = converted
        return record, None

    def _write(self, object_name: str, method: str, records: list[dict[str, Any]]
               ) -> list[dict[str, Any]]:
        response = self.http.request(
            method,
            self._url(object_name),
            json={"data": records, "trigger": list(self.settings.triggers)},
            object_name=object_name,
            write=True,
            idempotent=method == "PUT",  # a lost create answer is OutcomeUnknown
            accept=(400,),  # an all-failed batch is 400 with one entry per record
        )
        body = self.http.json(response, object_name=object_name)
        items = body.get("data") if isinstance(body, dict) else None
        if response.status_code == 400 and not isinstance(items, list):
            self.http.raise_for(response, object_name=object_name)
        if not isinstance(items, list) or len(items) != len(records):
            raise PermanentError(
                "Zoho answered a result list that does not match the request",
                code="BAD_RESPONSE", connector=CONNECTOR, object_name=object_name,
            )
        return [item if isinstance(item, dict) else {} for item in items]

    @staticmethod
    def _result(request: WriteRequest, item: dict[str, Any]) -> WriteResult:
        details = item.get("details") if isinstance(item.get("details"), dict) else {}
        assert isinstance(details, dict)
        if item.get("status") == "success" and details.get("id"):
            stamp = details.get("Modified_Time")
            return WriteResult(
                ref=request.ref,
                ok=True,
                record_id=str(details["id"]),
                modified_at=parse_datetime(stamp) if isinstance(stamp, str) else None,
            )
        code = str(item.get("code") or "UNKNOWN")
        field = details.get("api_name")
        message = str(item.get("message") or code.lower())
        found = [f"{k} {details[k]}" for k in _DETAIL_KEYS if details.get(k) is not None]
        if found:
            message += f" ({', '.join(found)})"
        missing = (
            request.op == "update"
            and code == "INVALID_DATA"
            and (field == "id" or (field is None and "id" in details))
        )
        return WriteResult(
            ref=request.ref,
            ok=False,
            record_id=request.record_id,
            error=RecordError(
                code=code,
                message=message,
                field=str(field) if field else None,
                retryable=code in RETRYABLE_ITEM_CODES,
                missing=missing,
            ),
        )

    @hookimpl
    def lookup_records(
        self,
        object_name: str,
        field: str,
        values: Sequence[str],
        fields: Sequence[str],
        page: str | None,
    ) -> RecordPage:
        """One COQL call per page: ``where <field> in (...)``, 50 terms a call."""
        self._check_object(object_name)
        if not _NAME.match(field):
            raise PermanentError(f"{field!r} is not a Zoho API name", code="INVALID_FIELD",
                                 field=field, connector=CONNECTOR, object_name=object_name)
        chunks = _lookup_chunks(values)
        chunk_index, offset = _lookup_position(page, len(chunks))
        if not chunks:
            return RecordPage()
        chunk = chunks[chunk_index]
        select = self._field_list(object_name, ["id", field, *fields])
        query = (
            f"select id, {', '.join(select)} from {object_name} where {field} in "
            f"({', '.join(_coql_quote(v) for v in chunk)}) limit {COQL_LIMIT} offset {offset}"
        )
        response = self.http.request("POST", self._url("coql"), json={"select_query": query},
                                     object_name=object_name)
        found: dict[str, ChangedRecord] = {}
        more = False
        if response.status_code != 204:
            body = self.http.json(response, object_name=object_name)
            more = bool((body.get("info") or {}).get("more_records"))
            wanted = {v.lower() for v in chunk}
            types = self._types(object_name)
            for row in body.get("data") or []:
                if not isinstance(row, dict) or "id" not in row:
                    continue
                key = row.get(field)
                if not isinstance(key, str) or key.strip().lower() not in wanted:
                    continue
                if object_name == "Leads" and row.get("Converted_Contact"):
                    continue  # a converted lead is its contact now
                stamp = parse_datetime(str(row["Modified_Time"]))
                found[str(row["id"])] = self._to_record(object_name, fields, types, row, stamp)
        if more:
            next_page: str | None = json.dumps({"c": chunk_index, "o": offset + COQL_LIMIT})
        elif chunk_index + 1 < len(chunks):
            next_page = json.dumps({"c": chunk_index + 1, "o": 0})
        else:
            next_page = None
        return RecordPage(records=tuple(found.values()), next_page=next_page)

    @hookimpl
    def clock_offset(self) -> ClockOffset | None:
        """The data centre's clock against ours, from its answers' ``Date`` headers."""
        return self.http.clock_offset()

    @hookimpl
    def close(self) -> None:
        self.http.close()
