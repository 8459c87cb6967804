"""``SalesforceConnector``: the crmsync hooks over the Salesforce REST API."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx
import structlog
from pydantic_settings import BaseSettings

from crmsync.authoring import (
    ConnectorHttp,
    MetadataCache,
    MonotonicCursor,
    TokenCache,
    checked_page_token,
)
from crmsync.contract import (
    ApiBudget,
    Capability,
    ChangedRecord,
    ChangePage,
    ClockOffset,
    ConnectorDescription,
    Cursor,
    FieldSpec,
    FieldType,
    RecordError,
    RecordRef,
    Tombstone,
    WriteRequest,
    WriteResult,
    hookimpl,
)
from crmsync.errors import (
    AuthenticationExpired,
    AuthenticationFailed,
    ConfigurationError,
    ConnectorError,
    PermanentError,
)
from crmsync_salesforce import _deleted, _soql
from crmsync_salesforce._auth import make_auth
from crmsync_salesforce._errors import (
    CONNECTOR,
    ERRORS,
    RETRYABLE_ITEM_CODES,
    item_error_field,
    names_missing_record,
)
from crmsync_salesforce._settings import GUARD, SalesforceSettings
from crmsync_salesforce._values import (
    FIELD_TYPES,
    from_wire,
    number_limit,
    parse_datetime,
    to_18,
    to_wire,
    wire_type_problem,
)

__all__ = ["SalesforceConnector"]

log = structlog.get_logger("crmsync.salesforce")

OBJECTS = ("Lead", "Contact")
MAX_BATCH = 200  # sObject Collections' hard cap per call
_FEED_FIELDS = ("Id", "SystemModstamp", "IsDeleted", "MasterRecordId")
_LEAD_FIELDS = ("IsConverted", "ConvertedContactId")
USAGE_FRESH_SECONDS = 300.0  # how long a Sforce-Limit-Info reading describes the org
# One read-back query holds a whole Collections chunk: 200 quoted 18-char ids are ~4,200
# characters, ~6,000 once percent-encoded, well inside the 16,384-byte URI limit.
_READ_BACK_BUDGET = 4_400
MISSING_BATCH = 200  # ids per missing_records call: one query, like a read-back


def _parse_limit_info(value: str) -> tuple[int, int] | None:
    """``api-usage=18230/115000; per-app-api-usage=...`` -> (18230, 115000)."""
    for part in value.split(";"):
        name, _, rest = part.strip().partition("=")
        if name.strip() == "api-usage":
            used, _, limit = rest.partition("/")
            try:
                return int(used), int(limit.split("(")[0])
            except ValueError:
                return None
    return None


def _unique_tombstones(tombstones: list[Tombstone]) -> tuple[Tombstone, ...]:
    """One tombstone per id: the feed's (it knows a merge's survivor) over the sweep's."""
    chosen: dict[str, Tombstone] = {}
    for tombstone in tombstones:
        known = chosen.get(tombstone.record_id)
        if known is None or (known.merged_into is None and tombstone.merged_into):
            chosen[tombstone.record_id] = tombstone
    return tuple(chosen.values())


class SalesforceConnector:
    """Lead and Contact sync with one Salesforce org (REST API, sObject Collections)."""

    @staticmethod
    @hookimpl
    def describe_connector() -> ConnectorDescription:
        return ConnectorDescription(
            id="salesforce",
            name="Salesforce",
            contract_version="1.2",
            objects=OBJECTS,
            person_objects=("Contact", "Lead"),
            max_batch_size=MAX_BATCH,
            max_page_size=2000,
            # One Id IN (...) query per missing_records call.
            missing_records_batch_size=MISSING_BATCH,
            # Salesforce caps concurrent *long* (>= 20 s) requests per org at 25 (5 on
            # Developer orgs) and every integration shares them; 4 keeps us a small tenant.
            max_concurrency=4,
            capabilities=frozenset(
                {
                    Capability.DELETIONS,
                    Capability.MERGES,
                    Capability.CONVERSIONS,
                    Capability.LOOKUP,
                    Capability.API_BUDGET,
                    Capability.FAULT_INJECTION,
                }
            ),
            settings_model=SalesforceSettings,
            role="crm",
            # SystemModstamp is set when a transaction starts; a long batch job or data
            # load commits minutes later. The fact sheet (section 4) and Salesforce's
            # guidance: re-read the last 2 to 5 minutes on every run.
            late_commit_seconds=300.0,
            # SystemModstamp counts whole seconds (fact sheet, section 4).
            timestamp_precision_seconds=1.0,
            emulator="crmsync_salesforce.emulator:serve",
            # The demo README's first command (`make demo`) runs against this emulator.
            demo_priority=10,
        )

    def __init__(
        self,
        settings: BaseSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        metadata_cache: MetadataCache | None = None,
        token_cache: TokenCache | None = None,
    ) -> None:
        if not isinstance(settings, SalesforceSettings):
            raise ConfigurationError("SalesforceConnector needs SalesforceSettings")
        self.settings = settings
        self._clock = clock or time.time
        self.auth = make_auth(settings, self._clock, token_cache)
        self.http = ConnectorHttp(
            connector=CONNECTOR,
            error_map=ERRORS,
            url_guard=GUARD,
            auth=self.auth,
            transport=transport,
            timeout=settings.timeout,
            max_connections=self.describe_connector().max_concurrency * 2,
            user_agent="crmsync-salesforce",
            on_response=self._read_limit_info,
            clock=self._clock,
        )
        self._lock = threading.Lock()  # guards the budget and the describe cache
        self._usage: tuple[int, int] | None = None
        self._usage_at = 0.0
        self._describes: dict[str, dict[str, Any]] = {}
        # Describes kept by earlier processes (the framework's; see _describe).
        self._metadata = metadata_cache or MetadataCache(None, seconds=0)
        # The deletion sweep a read's first page made, by (object, starting cursor): its
        # later pages carry the same token (the engine passes the starting cursor).
        self._sweeps: dict[tuple[str, tuple[dt.datetime, str]], str] = {}

    def __repr__(self) -> str:
        return (
            f"SalesforceConnector(login_url={self.settings.login_url!r}, "
            f"auth_flow={self.settings.auth_flow!r})"
        )

    # -- plumbing ----------------------------------------------------------------------
    @property
    def _base(self) -> str:
        return f"/services/data/{self.settings.api_version}"

    def _read_limit_info(self, response: httpx.Response) -> None:
        limit_info = response.headers.get("Sforce-Limit-Info")
        usage = _parse_limit_info(limit_info) if limit_info else None
        if usage is not None:
            with self._lock:
                self._usage = usage
                self._usage_at = self._clock()

    def _request(
        self,
        method: str,
        path: str,
        *,
        object_name: str | None = None,
        params: dict[str, str] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        repeatable: bool = True,
    ) -> httpx.Response:
        """One data call on the instance (``path`` relative to it, or a
        vendor-given URL, checked by the guard)."""
        if self.http.base_url is None:
            raise AuthenticationExpired("not authenticated yet", connector=CONNECTOR)
        response = self.http.request(
            method,
            path,
            object_name=object_name,
            params=params,
            json=json,
            headers=headers,
            write=method != "GET",
            # A create repeated after its answer was lost duplicates records.
            idempotent=repeatable,
        )
        if response.status_code >= 300:  # no redirect is followed with a bearer token
            self.http.raise_for(response, object_name=object_name)
        return response

    def _json(self, response: httpx.Response) -> Any:
        return self.http.json(response)

    def _check_object(self, object_name: str) -> str:
        if object_name not in OBJECTS:
            raise PermanentError(
                f"Salesforce connector has no object {object_name!r}",
                code="UNKNOWN_OBJECT",
                connector=CONNECTOR,
            )
        return object_name

    def _describe(self, object_name: str, wanted: Iterable[str] = ()) -> dict[str, Any]:
        """The object's describe: this connection's, else one an earlier process kept
        (the framework's metadata cache), else the org's. A describe that lacks a
        ``wanted`` field (one added since it was read) is read from the org again."""
        key = f"describe:{self.settings.api_version}:{object_name}"

        def read() -> Any:
            response = self._request(
                "GET",
                f"{self._base}/sobjects/{object_name}/describe",
                object_name=object_name,
            )
            return self._json(response)

        with self._lock:
            body = self._describes.get(object_name)
        if body is None:
            body = self._metadata.get_or_load(key, read)
        known = {str(f.get("name", "")).lower() for f in body.get("fields", [])}
        if any(name.lower() not in known for name in wanted):
            self._metadata.forget(key)
            body = self._metadata.get_or_load(key, read)
        with self._lock:
            self._describes[object_name] = body
        return dict(body)

    def _field_meta(
        self, object_name: str, wanted: Iterable[str] = ()
    ) -> dict[str, dict[str, Any]]:
        """Lower-cased field name -> its describe entry."""
        return {
            str(f["name"]).lower(): f for f in self._describe(object_name, wanted).get("fields", [])
        }

    def _field_types(
        self, object_name: str, wanted: Iterable[str] = ()
    ) -> dict[str, tuple[str, str]]:
        """Lower-cased field name -> (API name, describe type)."""
        return {
            str(f["name"]).lower(): (str(f["name"]), str(f["type"]))
            for f in self._describe(object_name, wanted).get("fields", [])
        }

    # -- hooks -------------------------------------------------------------------------------
    @hookimpl
    def authenticate(self) -> None:
        # Many workers hitting one expiry renew once (the kit's generation counter).
        token = self.auth.ensure_token(force=True)
        instance = token.extra.get("instance_url")
        if not isinstance(instance, str) or not instance:
            raise AuthenticationFailed(
                "the token endpoint answered 200 without access_token/instance_url",
                connector=CONNECTOR,
            )
        self.http.base_url = instance  # checked by the guard in the token answer already

    @hookimpl
    def list_fields(self, object_name: str) -> list[FieldSpec]:
        self._check_object(object_name)
        specs = []
        for item in self._describe(object_name).get("fields", []):
            sf_type = str(item.get("type", ""))
            kind = FIELD_TYPES.get(sf_type, FieldType.OTHER)
            createable = bool(item.get("createable"))
            updateable = bool(item.get("updateable"))
            required = (
                createable
                and not item.get("nillable", True)
                and not item.get("defaultedOnCreate", False)
                and sf_type != "boolean"
            )
            text_like = kind in {
                FieldType.STRING,
                FieldType.TEXT,
                FieldType.EMAIL,
                FieldType.PHONE,
                FieldType.URL,
                FieldType.PICKLIST,
                FieldType.MULTIPICKLIST,
            }
            length = int(item.get("length") or 0)
            specs.append(
                FieldSpec(
                    name=str(item["name"]),
                    label=str(item.get("label") or item["name"]),
                    type=kind,
                    length=length if text_like and length > 0 else None,
                    required_on_create=required,
                    # A sync writes a mapped field on every change, so a field that can
                    # only be set on create (Lead.IsConverted) cannot receive values: it is
                    # read-only here, and mapping validation refuses to write it.
                    read_only=not updateable or bool(item.get("calculated")),
                    picklist_values=tuple(
                        str(p["value"])
                        for p in item.get("picklistValues") or []
                        if p.get("active", True)
                    ),
                    restricted_picklist=bool(item.get("restrictedPicklist")),
                    vendor_type=sf_type,
                )
            )
        return specs

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
        types = self._field_types(object_name, fields)
        batch = max(200, min(2000, page_size, self.settings.page_size))
        headers = {"Sforce-Query-Options": f"batchSize={batch}"}
        response: httpx.Response | None = None
        if page is not None:
            checked_page_token(page, prefixes=("/services/data/",), connector=CONNECTOR)
            try:
                response = self._request("GET", page, object_name=object_name, headers=headers)
            except PermanentError as error:
                if error.code != "INVALID_QUERY_LOCATOR":
                    raise
                # The locator expired (two days) or the org forgot it: Salesforce's answer
                # is to run the query again. From the read's starting cursor, so rows of
                # earlier pages come again, which the engine takes as a re-read.
                log.info("salesforce.query_locator_expired", object_name=object_name)
        if response is None:
            soql = self._feed_query(object_name, fields, cursor)
            response = self._request(
                "GET",
                f"{self._base}/queryAll",
                params={"q": soql},
                object_name=object_name,
                headers=headers,
            )
        body = self._json(response)
        records: list[ChangedRecord] = []
        tombstones: list[Tombstone] = []
        sweep = self._sweep_deleted(object_name, cursor, tombstones) if page is None else None
        swept = sweep.token if sweep is not None else None
        position = MonotonicCursor(cursor)
        for row in body.get("records", []):
            lowered = {str(k).lower(): v for k, v in row.items()}
            record_id = to_18(str(lowered["id"]))
            stamp = parse_datetime(str(lowered["systemmodstamp"]))
            position.advance(stamp, record_id)
            if lowered.get("isdeleted"):
                master = lowered.get("masterrecordid")
                tombstones.append(
                    Tombstone(
                        record_id=record_id,
                        deleted_at=stamp,
                        merged_into=to_18(master) if master else None,
                    )
                )
                continue
            values = {
                name: from_wire(lowered.get(name.lower()), types.get(name.lower(), ("", ""))[1])
                for name in fields
            }
            converted = None
            contact = lowered.get("convertedcontactid")
            if object_name == "Lead" and lowered.get("isconverted") and contact:
                converted = RecordRef(object_name="Contact", record_id=to_18(str(contact)))
            records.append(
                ChangedRecord(
                    record_id=record_id,
                    modified_at=stamp,
                    values=values,
                    converted_to=converted,
                )
            )
        next_page = body.get("nextRecordsUrl") if not body.get("done", True) else None
        position_after = position.cursor
        if cursor is not None:
            with self._lock:
                token = swept or self._sweeps.get((object_name, cursor.sort_key()))
                if next_page is None:
                    self._sweeps.pop((object_name, cursor.sort_key()), None)
            if token is not None:
                position_after = position_after.model_copy(update={"token": token})
        return ChangePage(
            records=tuple(records),
            tombstones=_unique_tombstones(tombstones),
            cursor=position_after,
            next_page=next_page,
            # The getDeleted call the sweep made, for the cycle report's api_calls.
            costs={"deleted_sweep": 1} if swept is not None else {},
            # Deletions purged before getDeleted's window: the engine asks
            # missing_records about the object's links.
            deletions_unknown_before=sweep.unknown_before if sweep is not None else None,
        )

    def _sweep_deleted(
        self, object_name: str, cursor: Cursor | None, tombstones: list[Tombstone]
    ) -> _deleted.Sweep | None:
        """Run the getDeleted sweep if one is due (see :mod:`crmsync_salesforce._deleted`),
        adding its tombstones; the sweep, or ``None``."""
        now = self._org_now()
        since = _deleted.sweep_since(cursor, now)
        if cursor is None or since is None:
            return None

        def get_json(path: str, params: dict[str, str]) -> Any:
            response = self._request("GET", path, params=params, object_name=object_name)
            return self._json(response)

        found = _deleted.sweep(get_json, self._base, object_name, since, now)
        if found is None:
            return None
        tombstones.extend(found.tombstones)
        with self._lock:
            self._sweeps[(object_name, cursor.sort_key())] = found.token
        return found

    def _org_now(self) -> dt.datetime:
        """Now on the org's clock: ours corrected by the offset its answers' ``Date``
        headers measured. getDeleted's window and the feed's cursor are org times; on
        our clock alone, an org far behind would make a recent cursor look older than
        getDeleted remembers (and every link would be checked by id)."""
        now = self._clock()
        offset = self.http.clock_offset()
        if offset is not None:
            now += offset.offset_seconds
        return dt.datetime.fromtimestamp(now, dt.UTC)

    def _feed_query(self, object_name: str, fields: Sequence[str], cursor: Cursor | None) -> str:
        wanted: list[str] = []
        seen: set[str] = set()
        extra = _LEAD_FIELDS if object_name == "Lead" else ()
        for name in (*_FEED_FIELDS, *fields, *extra):
            _soql.check_name(name)
            if name.lower() not in seen:
                seen.add(name.lower())
                wanted.append(name)
        where = _soql.keyset(cursor)
        return _soql.select(
            wanted,
            object_name,
            [where] if where else [],
            order_by="SystemModstamp ASC, Id ASC",
        )

    @hookimpl
    def push_updates(self, object_name: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        self._check_object(object_name)
        results: list[WriteResult | None] = [None] * len(requests)
        updates: list[int] = []
        creates: list[int] = []
        for index, request in enumerate(requests):
            if request.op == "create":
                creates.append(index)
            elif request.record_id:
                updates.append(index)
            else:
                results[index] = WriteResult(
                    ref=request.ref,
                    ok=False,
                    error=RecordError(code="MISSING_ID", message="an update needs the record id"),
                )
        headers = {} if self.settings.auto_assign else {"Sforce-Auto-Assign": "FALSE"}
        wire: dict[int, dict[str, Any]] = {}
        field_meta = self._field_meta(
            object_name, {name for i in updates + creates for name in requests[i].values}
        )
        for index in updates + creates:
            record, error = self._checked_wire_record(object_name, requests[index], field_meta)
            if error is None:
                wire[index] = record
            else:
                results[index] = WriteResult(ref=requests[index].ref, ok=False, error=error)
        updates = [i for i in updates if i in wire]
        creates = [i for i in creates if i in wire]
        # Updates go first: if the create call then fails as a whole, the framework repeats
        # the batch, and repeating updates is harmless while repeating creates duplicates.
        for method, indexes in (("PATCH", updates), ("POST", creates)):
            for start in range(0, len(indexes), MAX_BATCH):
                chunk = indexes[start : start + MAX_BATCH]
                payload = {
                    "allOrNone": False,
                    "records": [wire[i] for i in chunk],
                }
                response = self._request(
                    method,
                    f"{self._base}/composite/sobjects",
                    object_name=object_name,
                    json=payload,
                    headers=headers,
                    # A create repeated after its answer was lost duplicates records.
                    repeatable=method == "PATCH",
                )
                items = self._json(response)
                if not isinstance(items, list) or len(items) != len(chunk):
                    raise PermanentError(
                        "sObject Collections answered a result list that does "
                        "not match the request",
                        code="BAD_RESPONSE",
                        connector=CONNECTOR,
                        object_name=object_name,
                    )
                for index, item in zip(chunk, items, strict=True):
                    results[index] = self._write_result(requests[index], item)
        if self.settings.read_back_stamps:
            self._read_back_stamps(object_name, results)
        return [result for result in results if result is not None]

    def _read_back_stamps(self, object_name: str, results: list[WriteResult | None]) -> None:
        """Fill each success's ``modified_at`` with the record's SystemModstamp.

        sObject Collections answers only ids, so one ``Id IN (...)`` query per (up to)
        200 written records reads the stamps back: reads, never writes, and a small
        price next to the write itself. The writes have happened by now, so a failing
        read-back must not raise (the framework would repeat the batch and duplicate the
        creates): the stamps it could not read stay ``None``, which the contract's
        engine tolerates.
        """
        written = {
            result.record_id: index
            for index, result in enumerate(results)
            if result is not None and result.ok and result.record_id
        }
        stamps: dict[str, Any] = {}
        try:
            for chunk in _soql.in_chunks(list(written), budget=_READ_BACK_BUDGET):
                soql = _soql.select(
                    ["Id", "SystemModstamp"], object_name, [f"Id IN ({', '.join(chunk)})"]
                )
                response = self._request(
                    "GET", f"{self._base}/query", params={"q": soql}, object_name=object_name
                )
                while True:
                    body = self._json(response)
                    for row in body.get("records", []):
                        lowered = {str(k).lower(): v for k, v in row.items()}
                        stamps[to_18(str(lowered["id"]))] = parse_datetime(
                            str(lowered["systemmodstamp"])
                        )
                    next_url = body.get("nextRecordsUrl")
                    if body.get("done", True) or not next_url:
                        break
                    response = self._request("GET", str(next_url), object_name=object_name)
        except ConnectorError:
            pass  # keep what was read; the rest stays None (see above)
        for record_id, index in written.items():
            result = results[index]
            if result is not None and record_id in stamps:
                results[index] = result.model_copy(update={"modified_at": stamps[record_id]})

    @staticmethod
    def _wire_record(object_name: str, request: WriteRequest) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": object_name}}
        for name, value in request.values.items():
            if name.lower() in {"id", "attributes"}:
                continue
            record[name] = to_wire(value)
        if request.op == "update":
            record["Id"] = request.record_id
        return record

    @classmethod
    def _checked_wire_record(
        cls,
        object_name: str,
        request: WriteRequest,
        field_meta: dict[str, dict[str, Any]],
    ) -> tuple[dict[str, Any], RecordError | None]:
        """The request as a wire record, or the error of its first value Salesforce
        would refuse: one it could not read (an unknown field, a value of the wrong JSON
        type) fails the whole call there, so it is refused here, for its own record
        only; a number too large for the field's describe size, and a clear of a field
        that may not be empty, are refused here too, naming the field.

        Clearing (README, "Clearing a field"): a cleared checkbox is written ``false``
        (Salesforce booleans are never null); a field that may not be null but has a
        default (``Status``, ``OwnerId``) is left out of a create, so the org fills its
        default, and an update clearing it is refused; a required field without a
        default is left to Salesforce's own ``REQUIRED_FIELD_MISSING``.
        """
        record = cls._wire_record(object_name, request)
        for name, value in list(record.items()):
            if name in {"attributes", "Id"}:
                continue
            meta = field_meta.get(name.lower())
            if meta is None:
                return record, RecordError(
                    code="INVALID_FIELD",
                    message=f"No such column '{name}' on sobject of type {object_name}",
                    field=name,
                )
            api_name, sf_type = str(meta["name"]), str(meta.get("type", ""))
            if value is None and not meta.get("nillable", True):
                if sf_type == "boolean":
                    record[name] = False
                elif request.op == "create" and meta.get("defaultedOnCreate"):
                    del record[name]
                elif request.op == "update":
                    return record, RecordError(
                        code="REQUIRED_FIELD_MISSING",
                        message=f"{object_name}.{api_name} cannot be cleared: Salesforce "
                        "requires a value in it (map a default or stop clearing it)",
                        field=api_name,
                    )
                continue
            problem = wire_type_problem(value, sf_type)
            if problem is not None:
                return record, RecordError(
                    code="JSON_PARSER_ERROR",
                    message=f"{object_name}.{api_name}: {problem}",
                    field=api_name,
                )
            limit = number_limit(meta)
            if limit is not None and value is not None and abs(float(value)) >= limit:
                return record, RecordError(
                    code="NUMBER_OUTSIDE_VALID_RANGE",
                    message=f"{object_name}.{api_name}: {value} is outside the field's "
                    f"range (less than {limit:g} in magnitude, from describe)",
                    field=api_name,
                )
        return record, None

    @staticmethod
    def _write_result(request: WriteRequest, item: dict[str, Any]) -> WriteResult:
        if item.get("success"):
            # modified_at is filled by _read_back_stamps (Collections has no SystemModstamp).
            return WriteResult(ref=request.ref, ok=True, record_id=to_18(str(item["id"])))
        errors = item.get("errors") or [{}]
        first = errors[0]
        code = str(first.get("statusCode") or first.get("errorCode") or "UNKNOWN")
        field = item_error_field(first)
        return WriteResult(
            ref=request.ref,
            ok=False,
            record_id=request.record_id,
            error=RecordError(
                code=code,
                message=str(first.get("message", "")),
                field=field,
                retryable=code in RETRYABLE_ITEM_CODES,
                missing=request.op == "update" and names_missing_record(code, field),
            ),
        )

    @hookimpl
    def lookup_records(
        self, object_name: str, field: str, values: Sequence[str], fields: Sequence[str]
    ) -> list[ChangedRecord]:
        self._check_object(object_name)
        _soql.check_name(field)
        wanted: list[str] = []
        seen: set[str] = set()
        for value in values:
            cleaned = value.strip()
            if cleaned and cleaned.lower() not in seen:
                seen.add(cleaned.lower())
                wanted.append(cleaned)
        if not wanted:
            return []
        types = self._field_types(object_name, fields)
        select_fields: list[str] = []
        chosen: set[str] = set()
        extra = _LEAD_FIELDS if object_name == "Lead" else ()
        for name in ("Id", "SystemModstamp", *fields, *extra):
            _soql.check_name(name)
            if name.lower() not in chosen:
                chosen.add(name.lower())
                select_fields.append(name)
        found: list[ChangedRecord] = []
        seen_ids: set[str] = set()
        for chunk in _soql.in_chunks(wanted):
            where = [f"{field} IN ({', '.join(chunk)})"]
            if object_name == "Lead":
                where.append("IsConverted = false")
            soql = _soql.select(select_fields, object_name, where, order_by="Id ASC")
            response = self._request(
                "GET",
                f"{self._base}/query",
                params={"q": soql},
                object_name=object_name,
            )
            while True:
                body = self._json(response)
                for row in body.get("records", []):
                    lowered = {str(k).lower(): v for k, v in row.items()}
                    record_id = to_18(str(lowered["id"]))
                    if record_id in seen_ids:
                        continue
                    seen_ids.add(record_id)
                    found.append(
                        ChangedRecord(
                            record_id=record_id,
                            modified_at=parse_datetime(str(lowered["systemmodstamp"])),
                            values={
                                name: from_wire(
                                    lowered.get(name.lower()),
                                    types.get(name.lower(), ("", ""))[1],
                                )
                                for name in fields
                            },
                        )
                    )
                next_url = body.get("nextRecordsUrl")
                if body.get("done", True) or not next_url:
                    break
                response = self._request("GET", str(next_url), object_name=object_name)
        return found

    @hookimpl
    def missing_records(self, object_name: str, record_ids: Sequence[str]) -> list[str]:
        """``SELECT Id FROM <object> WHERE Id IN (...)`` through ``query``, which hides
        the Recycle Bin: an id it does not answer is deleted (merge losers included) or
        purged. A converted lead still exists. One query per :data:`MISSING_BATCH` ids
        (~4,200 characters of WHERE, ~6,000 once percent-encoded: inside the
        16,384-byte URI limit), following its pages."""
        self._check_object(object_name)
        found: set[str] = set()
        for chunk in _soql.in_chunks(list(dict.fromkeys(record_ids)), budget=_READ_BACK_BUDGET):
            soql = _soql.select(["Id"], object_name, [f"Id IN ({', '.join(chunk)})"])
            response = self._request(
                "GET", f"{self._base}/query", params={"q": soql}, object_name=object_name
            )
            while True:
                body = self._json(response)
                for row in body.get("records", []):
                    lowered = {str(k).lower(): v for k, v in row.items()}
                    found.add(to_18(str(lowered["id"])))
                next_url = body.get("nextRecordsUrl")
                if body.get("done", True) or not next_url:
                    break
                checked_page_token(
                    str(next_url), prefixes=("/services/data/",), connector=CONNECTOR
                )
                response = self._request("GET", str(next_url), object_name=object_name)
        return [record_id for record_id in record_ids if to_18(record_id) not in found]

    @hookimpl
    def api_budget(self) -> ApiBudget | None:
        with self._lock:
            usage, seen_at = self._usage, self._usage_at
        # The allocation is a rolling 24-hour window: an old reading says nothing about
        # now. Reporting it would stop a long-lived connection for good after one spent
        # budget (no call, so no new reading); unknown lets one call through to look.
        if usage is None or self._clock() - seen_at > USAGE_FRESH_SECONDS:
            return None
        used, limit = usage
        return ApiBudget(
            used=used, limit=limit, allowed=int(limit * self.settings.api_budget_share)
        )

    @hookimpl
    def clock_offset(self) -> ClockOffset | None:
        """The org's clock against ours, from its answers' ``Date`` headers."""
        return self.http.clock_offset()

    @hookimpl
    def close(self) -> None:
        self.http.close()
