"""The emulator's writes: insert, update, upsert, delete and lead conversion, answered
record by record in input order (fact sheet sections 5 and 8)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx

from crmsync_zoho.emulator._errors import USER, error
from crmsync_zoho.emulator._reads import if_modified_since

if TYPE_CHECKING:
    from crmsync_zoho.emulator._core import ZohoEmulator

__all__ = ["convert_call", "delete_many", "merge_call", "write"]


# -- writes ------------------------------------------------------------------------------


def _write_body(emu: ZohoEmulator, body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"null")
    except ValueError:
        raise error(400, "INVALID_DATA", "body is not valid JSON") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), list):
        raise error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is "
                     "missing", param_name="data")
    if not parsed["data"]:
        raise error(400, "INVALID_DATA", "invalid data", param_name="data")
    if len(parsed["data"]) > 100:
        raise error(400, "LIMIT_EXCEEDED", "the limit of records exceeded", limit=100)
    trigger = parsed.get("trigger")
    if trigger is not None and not isinstance(trigger, list):
        raise error(400, "INVALID_DATA", "invalid data", param_name="trigger")
    emu.triggers.append(trigger)
    return parsed


def _details(emu: ZohoEmulator, record: dict[str, Any], version: float) -> dict[str, Any]:
    user = {"name": USER["name"], "id": USER["id"]}
    out = {
        "Modified_Time": emu._fmt(record["_modified"]),
        "Modified_By": dict(user),
        "Created_Time": emu._fmt(record["_created"]),
        "id": record["id"],
        "Created_By": dict(user),
    }
    if version >= 6:
        out["$approval_state"] = "approved"
    return out


def _record_error(
    emu: ZohoEmulator, code: str, details: dict[str, Any], index: int
) -> dict[str, Any]:
    messages = {
        "MANDATORY_NOT_FOUND": "required field not found",
        "INVALID_DATA": "invalid data",
        "DUPLICATE_DATA": "duplicate data",
        "CONVERTED_RECORD": "can't update the converted record",
    }
    if "api_name" in details:
        details = {**details, "json_path": f"$.data[{index}].{details['api_name']}"}
    return {"code": code, "details": details, "message": messages.get(code, code.lower()),
            "status": "error"}


def write(emu: ZohoEmulator, request: httpx.Request, body: bytes, module: str, version: float,
           mode: str) -> tuple[int, Any]:
    parsed = _write_body(emu, body)
    check_fields = parsed.get("duplicate_check_fields") or ["Email"]
    unmodified = None
    if version >= 7 and request.headers.get("If-Unmodified-Since"):
        unmodified = if_modified_since(emu,
            httpx.Request("GET", "http://x", headers={
                "If-Modified-Since": request.headers["If-Unmodified-Since"]})
        )
    results: list[dict[str, Any]] = []
    table = emu.records[module]
    for index, item in enumerate(parsed["data"]):
        if not isinstance(item, dict):
            results.append(_record_error(emu, "INVALID_DATA", {}, index))
            continue
        target: str | None = None
        duplicate_field: str | None = None
        if mode == "update":
            target = item.get("id")
            if target is None:
                results.append(_record_error(emu, "MANDATORY_NOT_FOUND",
                                                  {"api_name": "id"}, index))
                continue
            if not isinstance(target, str) or target not in table:
                results.append(_record_error(emu, "INVALID_DATA",
                                                  {"api_name": "id", "id": str(target)},
                                                  index))
                continue
        elif mode == "upsert":
            for name in check_fields:
                value = item.get(name)
                if not isinstance(value, str) or not value:
                    continue
                for rid, row in table.items():
                    if isinstance(row.get(name), str) and row[name].lower() == value.lower():
                        target, duplicate_field = rid, name
                        break
                if target is not None:
                    break
        creating = target is None
        problem = emu._problems(module, item, creating=creating)
        if problem is None and creating and emu.unique_email and item.get("Email"):
            for rid, row in table.items():
                if (row.get("Email") or "").lower() == str(item["Email"]).lower():
                    problem = ("DUPLICATE_DATA", {"api_name": "Email", "duplicate_record": {
                        "id": rid, "module": {"api_name": module}}})
                    break
        if problem is None and target is not None and table[target]["_converted"]:
            problem = ("CONVERTED_RECORD", {"id": target})
        if problem is None and target is not None and unmodified is not None and (
            table[target]["_modified"] > unmodified
        ):
            raise error(412, "ALREADY_MODIFIED", "the record has been modified since")
        if problem is not None:
            results.append(_record_error(emu, problem[0], problem[1], index))
            continue
        if creating:
            record_id = emu._insert(module, item)
            entry: dict[str, Any] = {
                "code": "SUCCESS", "details": _details(emu, table[record_id], version),
                "message": "record added", "status": "success",
            }
            if mode == "upsert":
                entry.update({"action": "insert", "duplicate_field": None})
        else:
            assert target is not None
            emu._apply(module, table[target], item)
            emu._stamp(table[target])
            entry = {"code": "SUCCESS", "details": _details(emu, table[target], version),
                     "message": "record updated", "status": "success"}
            if mode == "upsert":
                entry.update({"action": "update", "duplicate_field": duplicate_field})
        results.append(entry)
    ok = sum(1 for r in results if r["status"] == "success")
    if ok == len(results):
        status = 201 if mode == "insert" else 200
    elif ok == 0:
        status = 400
    else:
        status = emu.mixed_status  # 207 (v7+ docs), 200 (observed on v6), 202 (v2 table)
    return status, {"data": results}


def delete_many(emu: ZohoEmulator, request: httpx.Request, module: str) -> tuple[int, Any]:
    raw = request.url.params.get("ids", "")
    ids = [i.strip() for i in raw.split(",") if i.strip()]
    if not ids:
        raise error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is "
                     "missing", param_name="ids")
    if len(ids) > 100:
        raise error(400, "LIMIT_EXCEEDED", "the limit of records exceeded", limit=100)
    results = []
    for index, record_id in enumerate(ids):
        if record_id in emu.records[module]:
            emu._delete(module, record_id)
            results.append({"code": "SUCCESS", "details": {"id": record_id},
                            "message": "record deleted", "status": "success"})
        else:
            results.append(_record_error(emu, "INVALID_DATA", {"id": record_id}, index))
    ok = sum(1 for r in results if r["status"] == "success")
    status = 200 if ok == len(results) else 400 if ok == 0 else emu.mixed_status
    return status, {"data": results}


def convert_call(emu: ZohoEmulator, body: bytes, lead_id: str, version: float) -> tuple[int, Any]:
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        raise error(400, "INVALID_DATA", "body is not valid JSON") from None
    items = parsed.get("data") if isinstance(parsed, dict) else None
    options = items[0] if isinstance(items, list) and items and isinstance(items[0], dict
                                                                              ) else {}
    details = emu._convert(lead_id, options)
    if version <= 2:
        return 200, {"data": [{
            "Contacts": details["Contacts"]["id"],
            "Accounts": details.get("Accounts", {}).get("id"),
            "Deals": None,
        }]}
    return 200, {"data": [{"code": "SUCCESS", "status": "success",
                           "message": "The record has been converted successfully",
                           "details": details}]}


def merge_call(emu: ZohoEmulator, body: bytes, module: str, master_id: str
               ) -> tuple[int, Any]:
    """``POST /{module}/{master}/actions/merge``: children's chosen ``_fields`` go to the
    master, children go to the recycle bin, the master keeps its id and is stamped."""
    try:
        parsed = json.loads(body or b"null")
        children = parsed["merge"][0]["data"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise error(400, "INVALID_DATA", "invalid data", param_name="merge") from None
    table = emu.records[module]
    if master_id not in table:
        raise error(400, "INVALID_DATA", "the id given seems to be invalid",
                    resource_path_index=1)
    if not isinstance(children, list) or not 1 <= len(children) <= 2:
        raise error(400, "LIMIT_EXCEEDED", "at most three records can be merged", limit=2)
    for child in children:
        child_id = child.get("id") if isinstance(child, dict) else None
        if child_id not in table or child_id == master_id:
            raise error(400, "INVALID_DATA", "the id given seems to be invalid", id=child_id)
    for child in children:
        source = table[child["id"]]
        names = [str(f.get("api_name") or "") for f in child.get("_fields") or []
                 if isinstance(f, dict)]
        emu._apply(module, table[master_id], {n: source.get(n) for n in names if n})
    emu.merge(module, master_id, [c["id"] for c in children])
    return 200, {"data": [{"code": "SUCCESS", "details": {"id": master_id},
                           "message": "records merged successfully", "status": "success"}]}
