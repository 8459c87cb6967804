"""``SalesforceConnector``: the crmsync hooks over the Salesforce REST API."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pydantic_settings import BaseSettings

from crmsync.contract import (
    ApiBudget,
    Capability,
    ChangedRecord,
    ChangePage,
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
    ConfigurationError,
    ConnectorError,
    PermanentError,
)
from crmsync_salesforce import _soql
from crmsync_salesforce._auth import RefreshToken, Session, fetch_session
from crmsync_salesforce._errors import (
    CONNECTOR,
    MISSING_ITEM_CODES,
    RETRYABLE_ITEM_CODES,
    raise_for_response,
    raise_transport_error,
)
from crmsync_salesforce._settings import SalesforceSettings
from crmsync_salesforce._values import (
    FIELD_TYPES,
    from_wire,
    parse_datetime,
    to_18,
    to_wire,
    wire_type_problem,
)

__all__ = ["SalesforceConnector"]

OBJECTS = ("Lead", "Contact")
MAX_BATCH = 200  # sObject Collections' hard cap per call
_FEED_FIELDS = ("Id", "SystemModstamp", "IsDeleted", "MasterRecordId")
_LEAD_FIELDS = ("IsConverted", "ConvertedContactId")
USAGE_FRESH_SECONDS = 300.0  # how long a Sforce-Limit-Info reading describes the org
# One read-back query holds a whole Collections chunk: 200 quoted 18-char ids are ~4,200
# characters, ~6,000 once percent-encoded, well inside the 16,384-byte URI limit.
_READ_BACK_BUDGET = 4_400


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


class SalesforceConnector:
    """Lead and Contact sync with one Salesforce org (REST API, sObject Collections)."""

    @staticmethod
    @hookimpl
    def describe_connector() -> ConnectorDescription:
        return ConnectorDescription(
            id="salesforce",
            name="Salesforce",
            contract_version="1.0",
            objects=OBJECTS,
            person_objects=("Contact", "Lead"),
            max_batch_size=MAX_BATCH,
            max_page_size=2000,
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
        )

    def __init__(
        self,
        settings: BaseSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(settings, SalesforceSettings):
            raise ConfigurationError("SalesforceConnector needs SalesforceSettings")
        self.settings = settings
        self._clock = clock or time.time
        self._client = httpx.Client(
            transport=transport,
            timeout=settings.timeout,
            headers={"Accept": "application/json"},
        )
        self._lock = threading.Lock()  # guards the session, the budget and the describe cache
        self._auth_lock = threading.Lock()  # one token request at a time (no stampede)
        self._session: Session | None = None
        self._refresh = RefreshToken(settings) if settings.auth_flow == "refresh_token" else None
        self._expired_generation = -1
        self._generation = 0
        self._usage: tuple[int, int] | None = None
        self._usage_at = 0.0
        self._describes: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return (
            f"SalesforceConnector(login_url={self.settings.login_url!r}, "
            f"auth_flow={self.settings.auth_flow!r})"
        )

    # -- plumbing ----------------------------------------------------------------------
    @property
    def _base(self) -> str:
        return f"/services/data/{self.settings.api_version}"

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
        with self._lock:
            session = self._session
        if session is None:
            raise AuthenticationExpired("not authenticated yet", connector=CONNECTOR)
        all_headers = {
            "Authorization": f"Bearer {session.access_token}",
            **(headers or {}),
        }
        try:
            response = self._client.request(
                method,
                session.instance_url + path,
                params=params,
                json=json,
                headers=all_headers,
            )
        except httpx.TransportError as error:
            raise_transport_error(error, object_name=object_name, repeatable=repeatable)
        limit_info = response.headers.get("Sforce-Limit-Info")
        if limit_info:
            usage = _parse_limit_info(limit_info)
            if usage is not None:
                with self._lock:
                    self._usage = usage
                    self._usage_at = self._clock()
        if response.status_code >= 300:
            if response.status_code == 401:
                with self._lock:
                    self._expired_generation = max(self._expired_generation, session.generation)
            raise_for_response(response, object_name=object_name)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise PermanentError(
                "Salesforce answered a body that is not JSON",
                code="BAD_RESPONSE",
                connector=CONNECTOR,
            ) from None

    def _check_object(self, object_name: str) -> str:
        if object_name not in OBJECTS:
            raise PermanentError(
                f"Salesforce connector has no object {object_name!r}",
                code="UNKNOWN_OBJECT",
                connector=CONNECTOR,
            )
        return object_name

    def _describe(self, object_name: str) -> dict[str, Any]:
        with self._lock:
            cached = self._describes.get(object_name)
        if cached is not None:
            return cached
        response = self._request(
            "GET",
            f"{self._base}/sobjects/{object_name}/describe",
            object_name=object_name,
        )
        body = self._json(response)
        with self._lock:
            self._describes[object_name] = body
        return dict(body)

    def _field_types(self, object_name: str) -> dict[str, tuple[str, str]]:
        """Lower-cased field name -> (API name, describe type)."""
        return {
            str(f["name"]).lower(): (str(f["name"]), str(f["type"]))
            for f in self._describe(object_name).get("fields", [])
        }

    # -- hooks -------------------------------------------------------------------------------
    @hookimpl
    def authenticate(self) -> None:
        with self._auth_lock:
            with self._lock:
                current = self._session
                # Another worker renewed the session after the expiry that sent us here.
                if current is not None and current.generation > self._expired_generation >= 0:
                    return
                self._generation += 1
                generation = self._generation
            session = fetch_session(
                self._client, self.settings, self._clock, generation, self._refresh
            )
            with self._lock:
                self._session = session

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
        types = self._field_types(object_name)
        batch = max(200, min(2000, page_size, self.settings.page_size))
        headers = {"Sforce-Query-Options": f"batchSize={batch}"}
        if page is not None:
            if not page.startswith("/services/data/") or ".." in page:
                raise PermanentError(
                    "page token is not a Salesforce nextRecordsUrl",
                    code="INVALID_PAGE_TOKEN",
                    connector=CONNECTOR,
                )
            response = self._request("GET", page, object_name=object_name, headers=headers)
        else:
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
        last: tuple[dt.datetime, str] | None = None
        for row in body.get("records", []):
            lowered = {str(k).lower(): v for k, v in row.items()}
            record_id = to_18(str(lowered["id"]))
            stamp = parse_datetime(str(lowered["systemmodstamp"]))
            last = (stamp, record_id)
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
        position = Cursor(modified_at=last[0], record_id=last[1]) if last else cursor or Cursor()
        if cursor is not None and last is not None and position.sort_key() < cursor.sort_key():
            position = cursor  # never go backwards
        next_page = body.get("nextRecordsUrl") if not body.get("done", True) else None
        return ChangePage(
            records=tuple(records),
            tombstones=tuple(tombstones),
            cursor=position,
            next_page=next_page,
        )

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
        field_types = self._field_types(object_name)
        for index in updates + creates:
            record, error = self._checked_wire_record(object_name, requests[index], field_types)
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
        field_types: dict[str, tuple[str, str]],
    ) -> tuple[dict[str, Any], RecordError | None]:
        """The request as a wire record, or the error of its first value Salesforce
        could not read (an unknown field, a value of the wrong JSON type): such a value
        fails the whole call there, so it is refused here, for its own record only."""
        record = cls._wire_record(object_name, request)
        for name, value in record.items():
            if name in {"attributes", "Id"}:
                continue
            known = field_types.get(name.lower())
            if known is None:
                return record, RecordError(
                    code="INVALID_FIELD",
                    message=f"No such column '{name}' on sobject of type {object_name}",
                    field=name,
                )
            problem = wire_type_problem(value, known[1])
            if problem is not None:
                return record, RecordError(
                    code="JSON_PARSER_ERROR",
                    message=f"{object_name}.{known[0]}: {problem}",
                    field=known[0],
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
        fields = first.get("fields") or []
        return WriteResult(
            ref=request.ref,
            ok=False,
            record_id=request.record_id,
            error=RecordError(
                code=code,
                message=str(first.get("message", "")),
                field=str(fields[0]) if fields else None,
                retryable=code in RETRYABLE_ITEM_CODES,
                missing=request.op == "update" and code in MISSING_ITEM_CODES,
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
        types = self._field_types(object_name)
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
    def close(self) -> None:
        self._client.close()
