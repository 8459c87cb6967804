"""URL routing of the emulated REST API (``/services/data/vNN.N/<rest>``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import httpx

from crmsync_salesforce.emulator._faults import _Reply
from crmsync_salesforce.emulator._ids import KEY_PREFIXES, is_valid_id, to_18
from crmsync_salesforce.emulator._schema import SCHEMAS, describe_json
from crmsync_salesforce.emulator._soql import parse_datetime
from crmsync_salesforce.emulator._writes import (
    RequestError,
    coerce_values,
    format_datetime,
    json_parser_error,
)

if TYPE_CHECKING:
    from crmsync_salesforce.emulator._core import SalesforceEmulator

LOCATOR_LIFETIME = dt.timedelta(days=2)  # since API 56.0 (fact sheet, section 4)
UPDATE_ONLY_SINCE = 61  # ``?updateOnly=true`` on upserts exists from v61.0

__all__ = ["route"]

_COLLECTION_LIMIT = 200
_NOT_FOUND = "The requested resource does not exist"


def _reply(
    status: int,
    body: Any = None,
    emulator: SalesforceEmulator | None = None,
    **headers: str,
) -> _Reply:
    merged = dict(headers)
    if emulator is not None:
        merged.update(emulator._usage_header())
    return _Reply(status, body, merged)


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python reads them, JSON has none


def _json_body(body: bytes) -> Any:
    """The body as JSON; Salesforce's reader refuses a member named twice."""
    try:
        return json.loads(
            body or b"null", object_pairs_hook=_unique_keys, parse_constant=_no_constant
        )
    except _DuplicateKey as duplicate:
        raise json_parser_error(f"Duplicate field '{duplicate}'") from None
    except ValueError:
        raise json_parser_error("Unexpected character: was expecting a JSON value") from None


def route(
    emu: SalesforceEmulator,
    method: str,
    rest: str,
    request: httpx.Request,
    body: bytes,
    version: str,
    item_lock: bool,
) -> _Reply:
    parts = rest.split("/") if rest else []
    headers = {k.lower(): v for k, v in request.headers.items()}
    if not parts:
        return _reply(
            200,
            {
                name: f"/services/data/{version}/{name}"
                for name in ("sobjects", "query", "queryAll", "limits", "composite")
            },
            emu,
        )
    head = parts[0]
    if head == "limits" and method == "GET":
        remaining = max(0, emu.daily_limit - emu.api_usage)
        return _reply(
            200,
            {
                "DailyApiRequests": {"Max": emu.daily_limit, "Remaining": remaining},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DataStorageMB": {"Max": 1024, "Remaining": 1000},
            },
            emu,
        )
    if head in {"query", "queryAll"} and method == "GET":
        if len(parts) == 1:
            soql = request.url.params.get("q")
            if not soql:
                raise RequestError(400, "MALFORMED_QUERY", "A query string has to be specified")
            rows = emu._query_rows(soql, head == "queryAll", version)
            return emu._page(rows, 0, emu._batch_size(request), None, version)
        locator, _, offset = parts[1].rpartition("-")
        state = emu._locators.get(locator)
        if state is not None and emu.clock.now() - state.created > LOCATOR_LIFETIME:
            del emu._locators[locator]
            state = None
        if state is None or not offset.isdigit() or int(offset) > len(state.rows):
            raise RequestError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return emu._page(state.rows, int(offset), state.batch, locator, version)
    if head == "sobjects":
        return _sobjects(emu, method, parts[1:], request, body, version, headers)
    if head == "composite" and len(parts) == 2 and parts[1] == "sobjects":
        return _collection(emu, method, body, headers, item_lock)
    raise RequestError(404, "NOT_FOUND", _NOT_FOUND)


def _sobjects(
    emu: SalesforceEmulator,
    method: str,
    parts: list[str],
    request: httpx.Request,
    body: bytes,
    version: str,
    headers: dict[str, str],
) -> _Reply:
    if not parts:
        return _reply(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [
                    {
                        "name": s.name,
                        "label": s.label,
                        "keyPrefix": KEY_PREFIXES[s.name],
                        "queryable": True,
                        "createable": True,
                        "updateable": True,
                    }
                    for s in SCHEMAS.values()
                ],
            },
            emu,
        )
    schema = SCHEMAS.get(parts[0].lower())
    if schema is None:
        raise RequestError(404, "NOT_FOUND", _NOT_FOUND)
    if len(parts) == 1:
        if method == "POST":
            result = emu._create(schema, _json_body(body), None, headers)
            if not result["success"]:
                return _top_level(emu, result)
            location = f"/services/data/{version}/sobjects/{schema.name}/{result['id']}"
            return _reply(201, result, emu, Location=location)
        if method == "GET":
            return _reply(
                200,
                {
                    "objectDescribe": {
                        "name": schema.name,
                        "label": schema.label,
                        "keyPrefix": KEY_PREFIXES[schema.name],
                    },
                    "recentItems": [],
                },
                emu,
            )
        raise RequestError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed.")
    second = parts[1]
    if second == "describe" and len(parts) == 2 and method == "GET":
        return _reply(200, describe_json(schema, version), emu)
    if second in {"updated", "deleted"} and len(parts) == 2 and method == "GET":
        return _replication(emu, schema.name, second, request)
    if len(parts) == 3:
        update_only = request.url.params.get("updateOnly", "").lower() == "true"
        if int(version[1:].split(".")[0]) < UPDATE_ONLY_SINCE:
            update_only = False  # older versions do not know the parameter
        return _by_external_id(
            emu, method, schema.name, second, parts[2], body, version, headers, update_only
        )
    if len(parts) != 2:
        raise RequestError(404, "NOT_FOUND", _NOT_FOUND)
    record_id = second
    if not is_valid_id(record_id) or not record_id.startswith(KEY_PREFIXES[schema.name]):
        raise RequestError(
            400,
            "MALFORMED_ID",
            f"{schema.name} ID: id value of incorrect type: {record_id}",
        )
    record = emu.records[schema.name].get(to_18(record_id))
    if record is None:
        raise RequestError(404, "NOT_FOUND", _NOT_FOUND)
    if record["IsDeleted"]:
        raise RequestError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
    if method == "GET":
        wanted = request.url.params.get("fields")
        names = (
            [f.strip() for f in wanted.split(",")]
            if wanted
            else [item.name for item in schema.fields.values()]
        )
        canonical = []
        for name in names:
            item = schema.get(name)
            if item is None:
                raise RequestError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on entity '{schema.name}'",
                )
            canonical.append(item.name)
        return _reply(200, emu._render(schema, record, canonical, version), emu)
    if method == "PATCH":
        result = emu._update(schema, record["Id"], _json_body(body), None, headers)
        return _reply(204, None, emu) if result["success"] else _top_level(emu, result)
    if method == "DELETE":
        emu.delete(schema.name, record["Id"])
        return _reply(204, None, emu)
    raise RequestError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed.")


def _top_level(emu: SalesforceEmulator, result: dict[str, Any]) -> _Reply:
    """An item result's errors in the top-level shape (errorCode instead of statusCode)."""
    entries = []
    for error in result["errors"]:
        entry = {
            "message": error["message"],
            "errorCode": error["statusCode"],
            "fields": error.get("fields", []),
        }
        if "duplicateResult" in error:
            entry["duplicateResult"] = error["duplicateResult"]
        entries.append(entry)
    code = entries[0]["errorCode"] if entries else ""
    status = 404 if code in {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"} else 400
    return _reply(status, entries, emu)


def _by_external_id(
    emu: SalesforceEmulator,
    method: str,
    object_name: str,
    field_name: str,
    value: str,
    body: bytes,
    version: str,
    headers: dict[str, str],
    update_only: bool = False,
) -> _Reply:
    schema = SCHEMAS[object_name.lower()]
    item = schema.get(field_name)
    if item is None or not (item.external_id or item.id_lookup) or item.name == "Id":
        raise RequestError(
            404,
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {field_name}",
        )
    matches = [
        r
        for r in emu.records[schema.name].values()
        if not r["IsDeleted"] and (r.get(item.name) or "").lower() == value.lower()
    ]
    if len(matches) > 1:
        return _reply(
            300,
            [f"/services/data/{version}/sobjects/{schema.name}/{r['Id']}" for r in matches],
            emu,
        )
    if method == "GET":
        if not matches:
            raise RequestError(404, "NOT_FOUND", _NOT_FOUND)
        names = [f.name for f in schema.fields.values()]
        return _reply(200, emu._render(schema, matches[0], names, version), emu)
    if method != "PATCH":
        raise RequestError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed.")
    values = _json_body(body)
    if not isinstance(values, dict):
        raise json_parser_error(f"Cannot deserialize instance of {schema.name}: not an object")
    if any(k.lower() in {"id", item.name.lower()} for k in values):
        raise RequestError(
            400,
            "INVALID_FIELD",
            f"{item.name} is specified in the URL; do not repeat it, nor the Id, in the body",
        )
    if matches:
        result = emu._update(schema, matches[0]["Id"], values, None, headers)
        if not result["success"]:
            return _top_level(emu, result)
        return _reply(200, {**result, "created": False}, emu)
    if update_only:
        raise RequestError(404, "NOT_FOUND", _NOT_FOUND)
    result = emu._create(schema, {**values, item.name: value}, None, headers)
    if not result["success"]:
        return _top_level(emu, result)
    location = f"/services/data/{version}/sobjects/{schema.name}/{result['id']}"
    return _reply(201, {**result, "created": True}, emu, Location=location)


def _collection(
    emu: SalesforceEmulator,
    method: str,
    body: bytes,
    headers: dict[str, str],
    item_lock: bool,
) -> _Reply:
    if method not in {"POST", "PATCH"}:
        raise RequestError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed.")
    payload = _json_body(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("records"), list):
        raise json_parser_error('expected {"allOrNone": ..., "records": [...]}')
    if not isinstance(payload.get("allOrNone", False), bool):
        raise json_parser_error("allOrNone takes true or false")
    records = payload["records"]
    all_or_none = bool(payload.get("allOrNone", False))
    if len(records) > _COLLECTION_LIMIT:
        raise RequestError(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
    if not records:
        raise RequestError(400, "INVALID_FIELD", "No records were specified")
    schemas = []
    for record in records:
        if not isinstance(record, dict):
            raise json_parser_error("every member of records must be a JSON object")
        attributes = record.get("attributes")
        if attributes is not None and not isinstance(attributes, dict):
            raise json_parser_error('attributes must be an object such as {"type": "Lead"}')
        kind = (attributes or {}).get("type")
        schema = SCHEMAS.get(kind.lower()) if isinstance(kind, str) else None
        if schema is None:
            raise RequestError(
                400,
                "INVALID_TYPE",
                "When using the sObject Collections API, "
                "specify the type of each record in its attributes",
            )
        schemas.append(schema)
    # Salesforce reads the whole request before it saves anything: a column it does not
    # know or a value of the wrong JSON type fails the call, and no record is written.
    for schema, record in zip(schemas, records, strict=True):
        coerce_values(schema, {k: v for k, v in record.items() if k.lower() != "id"})
    stage: dict[str, dict[str, Any]] | None = {} if all_or_none else None
    results: list[dict[str, Any]] = []
    for index, (schema, record) in enumerate(zip(schemas, records, strict=True)):
        values = {k: v for k, v in record.items() if k.lower() != "id"}
        raw_id = next((v for k, v in record.items() if k.lower() == "id"), None)
        if item_lock and index == 0:
            result: dict[str, Any] = {
                "success": False,
                "errors": [
                    {
                        "statusCode": "UNABLE_TO_LOCK_ROW",
                        "message": "unable to obtain exclusive "
                        "access to this record or 1 records: " + str(raw_id or ""),
                        "fields": [],
                    }
                ],
            }
        elif method == "POST":
            if raw_id is not None:
                result = {
                    "success": False,
                    "errors": [
                        {
                            "statusCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
                            "message": "cannot specify Id in an insert call",
                            "fields": ["Id"],
                        }
                    ],
                }
            else:
                result = emu._create(schema, values, stage, headers)
        elif raw_id is None:
            result = {
                "success": False,
                "errors": [
                    {
                        "statusCode": "MISSING_ARGUMENT",
                        "message": "Id not specified in an update call",
                        "fields": [],
                    }
                ],
            }
        else:
            result = emu._update(schema, str(raw_id), values, stage, headers)
        results.append(result)
    if stage is not None:
        if all(r["success"] for r in results):
            for name, rows in stage.items():
                for rid, row in rows.items():
                    emu.records[name].setdefault(rid, {}).clear()
                    emu.records[name][rid].update(row)
        else:
            for result in results:
                if result["success"]:
                    result["success"] = False
                    if method == "POST":
                        result.pop("id", None)
                    result["errors"] = [
                        {
                            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                            "message": "Record rolled back because not all records were valid "
                            "and the request was using AllOrNone header",
                            "fields": [],
                        }
                    ]
    ordered = []
    for result in results:
        item: dict[str, Any] = {}
        if "id" in result:
            item["id"] = result["id"]
        item["success"] = result["success"]
        item["errors"] = result["errors"]
        ordered.append(item)
    return _reply(200, ordered, emu)


def _replication(
    emu: SalesforceEmulator, object_name: str, kind: str, request: httpx.Request
) -> _Reply:
    start = emu._parse_window(request.url.params.get("start"))
    end = emu._parse_window(request.url.params.get("end"))
    start = start.replace(second=0, microsecond=0)
    end = end.replace(second=0, microsecond=0)
    now = emu.clock.now()
    window = dt.timedelta(days=30 if kind == "updated" else 15)
    if start >= end:
        raise RequestError(
            400,
            "INVALID_REPLICATION_DATE",
            "startDate must chronologically precede endDate",
        )
    if start < now - window:
        raise RequestError(
            400,
            "INVALID_REPLICATION_DATE",
            f"startDate cannot be more than {window.days} days ago",
        )
    latest = min(end, now.replace(second=0))
    table = emu.records[object_name].values()

    def inside(record: dict[str, Any]) -> bool:
        stamp = parse_datetime(record["SystemModstamp"])
        return start <= stamp < end

    if kind == "updated":
        ids = [r["Id"] for r in table if not r["IsDeleted"] and inside(r)]
        if len(ids) > emu.replication_id_limit:
            raise RequestError(400, "EXCEEDED_ID_LIMIT", "too many ids; narrow the window")
        return _reply(200, {"ids": ids, "latestDateCovered": format_datetime(latest)}, emu)
    earliest = emu.earliest_date_available(object_name, window)
    deleted = [
        {"id": rid, "deletedDate": stamp}
        for rid, stamp in emu.deleted_log(object_name)
        if start <= parse_datetime(stamp) < end and parse_datetime(stamp) >= earliest
    ]
    if len(deleted) > emu.replication_id_limit:
        raise RequestError(400, "EXCEEDED_ID_LIMIT", "too many ids; narrow the window")
    return _reply(
        200,
        {
            "deletedRecords": deleted,
            "earliestDateAvailable": format_datetime(earliest),
            "latestDateCovered": format_datetime(latest),
        },
        emu,
    )
