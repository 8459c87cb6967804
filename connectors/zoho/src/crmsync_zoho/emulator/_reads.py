"""The emulator's reads: list (``If-Modified-Since``, ``page``/``page_token``), the
deleted-records list and COQL lookups (fact sheet sections 4 and 9)."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from typing import TYPE_CHECKING, Any

import httpx

from crmsync_zoho.emulator._coql import CoqlError, parse_coql
from crmsync_zoho.emulator._errors import (
    PAGE_WINDOW,
    TOKEN_WINDOW_RECORDS,
    Grant,
    PageToken,
    error,
)
from crmsync_zoho.emulator._schema import FIELDS

if TYPE_CHECKING:
    from crmsync_zoho.emulator._core import ZohoEmulator

__all__ = ["coql", "deleted_list", "if_modified_since", "list_records", "search"]


# -- reads -------------------------------------------------------------------------------


def if_modified_since(emu: ZohoEmulator, request: httpx.Request) -> dt.datetime | None:
    raw = request.headers.get("If-Modified-Since")
    if raw is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise error(400, "INVALID_DATA", "invalid data", param_name="If-Modified-Since"
                     ) from None
    if moment.tzinfo is None:
        raise error(400, "INVALID_DATA", "invalid data", param_name="If-Modified-Since")
    return moment.astimezone(dt.UTC).replace(microsecond=0)


def _int_param(params: httpx.QueryParams, name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise error(400, "INVALID_DATA", "invalid data", param_name=name) from None


def _fields_param(emu: ZohoEmulator, params: httpx.QueryParams, module: str, version: float
                  ) -> list[str] | None:
    raw = params.get("fields")
    if raw is None or not raw.strip():
        if version >= 3:
            raise error(400, "REQUIRED_PARAM_MISSING",
                         "One of the expected parameter is missing", param_name="fields")
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if len(names) > 50:
        raise error(400, "LIMIT_EXCEEDED", "the limit of fields exceeded",
                     param_name="fields", limit=50)
    for name in names:
        if name != "id" and name not in FIELDS[module]:
            raise error(400, "INVALID_DATA", "invalid data", api_name=name)
    return names


def list_records(
    emu: ZohoEmulator, request: httpx.Request, module: str, version: float
) -> tuple[int, Any]:
    params = request.url.params
    fields = _fields_param(emu, params, module, version)
    per_page = _int_param(params, "per_page", 200)
    if not 1 <= per_page <= 200:
        raise error(400, "INVALID_DATA", "invalid data", param_name="per_page",
                     maximum_length=200)
    sort_by = params.get("sort_by", "id")
    if sort_by not in {"id", "Created_Time", "Modified_Time"}:
        raise error(400, "INVALID_DATA", "invalid data", param_name="sort_by",
                     supported_values=["id", "Created_Time", "Modified_Time"])
    sort_order = params.get("sort_order", "desc")
    if sort_order not in {"asc", "desc"}:
        raise error(400, "INVALID_DATA", "invalid data", param_name="sort_order")
    converted = params.get("converted", "false")
    if converted not in {"true", "false", "both"}:
        raise error(400, "INVALID_DATA", "invalid data", param_name="converted")
    since = if_modified_since(emu, request)
    token = params.get("page_token")
    if token is not None and "page" in params:
        raise error(400, "AMBIGUITY_DURING_PROCESSING",
                     "page and page_token cannot be given together")
    binding = (module, tuple(fields or ()), per_page, sort_by, sort_order, converted,
               since, params.get("ids"))
    now = emu.clock.now()
    if token is not None:
        if version < 3:
            raise error(400, "INVALID_DATA", "invalid data", param_name="page_token")
        held = emu._page_tokens.get(token)
        if held is None:
            raise error(400, "INVALID_DATA", "invalid data", param_name="page_token")
        if held.expires_at <= now:
            raise error(400, "EXPIRED_VALUE", "the page token has expired",
                         param_name="page_token")
        if held.binding != binding:
            raise error(400, "TOKEN_BOUND_DATA_MISMATCH",
                         "the parameters differ from those of the page token")
        offset = held.offset
        page = offset // per_page + 1
    else:
        page = _int_param(params, "page", 1)
        if page < 1:
            raise error(400, "INVALID_DATA", "invalid data", param_name="page")
        if version >= 3 and page * per_page > PAGE_WINDOW:
            raise error(400, "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                         "use page_token to fetch records beyond 2000",
                         limit=PAGE_WINDOW)
        offset = (page - 1) * per_page
    if offset >= TOKEN_WINDOW_RECORDS:
        raise error(400, "PAGINATION_LIMIT_EXCEEDED",
                     "records beyond 100000 cannot be fetched", limit=TOKEN_WINDOW_RECORDS)
    rows = list(emu.records[module].values())
    if module == "Leads" and converted != "both":
        rows = [r for r in rows if r["_converted"] == (converted == "true")]
    if params.get("ids"):
        wanted = {i.strip() for i in params["ids"].split(",")}
        rows = [r for r in rows if r["id"] in wanted]
    if since is not None:
        rows = [r for r in rows if r["_modified"] >= since]
    reverse = sort_order == "desc"
    if sort_by == "id":
        # Ids are strings of one length per org; compare them as Zoho orders them.
        rows.sort(key=lambda r: (len(r["id"]), r["id"]), reverse=reverse)
    else:
        key = "_modified" if sort_by == "Modified_Time" else "_created"
        # Ties within one second come back in no order a client may rely on: here the
        # latest-written first.
        rows.sort(key=lambda r: (r[key], -r["_seq"]) if not reverse else (r[key],
                  r["_seq"]), reverse=reverse)
    chunk = rows[offset: offset + per_page]
    if not chunk:
        if since is not None and not rows:
            return emu.not_modified_status, None
        return 204, None
    more = offset + per_page < len(rows)
    info: dict[str, Any] = {"per_page": per_page, "count": len(chunk), "page": page,
                            "more_records": more}
    if version >= 3:
        next_token = None
        if more:
            next_token = secrets.token_hex(24)
            emu._page_tokens[next_token] = PageToken(
                binding, offset + per_page, now + dt.timedelta(hours=24)
            )
        info.update({
            "next_page_token": next_token,
            "previous_page_token": None,
            "page_token_expiry": emu._fmt(now + dt.timedelta(hours=24)) if more else None,
            "sort_by": sort_by,
            "sort_order": sort_order,
        })
    return 200, {"data": [emu._render(module, r, fields, version) for r in chunk],
                 "info": info}


def deleted_list(emu: ZohoEmulator, request: httpx.Request, module: str) -> tuple[int, Any]:
    params = request.url.params
    kind = params.get("type", "all")
    if kind not in {"all", "recycle", "permanent"}:
        raise error(400, "INVALID_DATA", "invalid data", param_name="type")
    per_page = _int_param(params, "per_page", 200)
    page = _int_param(params, "page", 1)
    if not 1 <= per_page <= 200 or page < 1:
        raise error(400, "INVALID_DATA", "invalid data", param_name="per_page")
    since = if_modified_since(emu, request)
    rows = [e for e in emu.deleted[module].values() if kind in {"all", e["type"]}]
    if since is not None:
        rows = [e for e in rows if e["_deleted"] >= since]
    rows.sort(key=lambda e: e["_deleted"], reverse=True)
    chunk = rows[(page - 1) * per_page: page * per_page]
    if not chunk:
        return (emu.not_modified_status if since is not None and not rows else 204), None
    data = [
        {**{k: v for k, v in e.items() if not k.startswith("_")},
         "deleted_time": emu._fmt(e["_deleted"])}
        for e in chunk
    ]
    return 200, {"data": data, "info": {"per_page": per_page, "count": len(data),
                                        "page": page,
                                        "more_records": page * per_page < len(rows)}}


def coql(emu: ZohoEmulator, body: bytes, version: float, grant: Grant) -> tuple[int, Any]:
    scopes = {s.strip().lower() for s in grant.scopes.split(",")}
    if "zohocrm.coql.read" not in scopes:
        raise error(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")
    try:
        query_text = json.loads(body or b"{}")["select_query"]
        query = parse_coql(str(query_text), max_limit=2000 if version >= 7 else 200)
    except (ValueError, KeyError, TypeError):
        raise error(400, "INVALID_QUERY", "the query is invalid",
                     reason="select_query missing") from None
    except CoqlError as problem:
        raise error(400, problem.code, str(problem), **problem.details) from None
    module = emu._module(query.module, grant)
    for name in [*query.fields, query.where_field]:
        if name != "id" and name not in FIELDS[module]:
            raise error(400, "INVALID_QUERY", "invalid column given", column_name=name)
    wanted = {v.lower() for v in query.values}
    rows = [r for r in emu.records[module].values()
            if isinstance(r.get(query.where_field), str)
            and r[query.where_field].lower() in wanted]
    rows.sort(key=lambda r: (len(r["id"]), r["id"]))
    chunk = rows[query.offset: query.offset + query.limit]
    if not chunk:
        return 204, None
    return 200, {
        "data": [emu._render(module, r, query.fields, version) for r in chunk],
        "info": {"count": len(chunk),
                 "more_records": query.offset + query.limit < len(rows)},
    }


_CRITERION = re.compile(r"\(((?:[^():\\]|\\.)+):(equals|starts_with):((?:[^()\\]|\\.)*)\)")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def search(
    emu: ZohoEmulator, request: httpx.Request, module: str, version: float
) -> tuple[int, Any]:
    """``GET /{module}/search``: ``criteria`` > ``email`` > ``phone`` > ``word``; at most
    2,000 results (``LIMIT_REACHED``); records younger than ``emu.search_lag`` seconds are
    not indexed yet; no hit is 204."""
    params = request.url.params
    per_page = _int_param(params, "per_page", 200)
    page = _int_param(params, "page", 1)
    if not 1 <= per_page <= 200 or page < 1:
        raise error(400, "INVALID_DATA", "invalid data", param_name="per_page")
    if page * per_page > PAGE_WINDOW:
        raise error(400, "LIMIT_REACHED", "search results beyond 2000 cannot be fetched",
                    limit=PAGE_WINDOW)
    tests: list[tuple[str, str, str]] = []  # (field, operator, value), any may match
    if params.get("criteria"):
        text = params["criteria"]
        found = _CRITERION.findall(text)
        leftover = _CRITERION.sub("", text).replace("or", "").replace("(", "").replace(")", "")
        if not found or leftover.strip():
            raise error(400, "INVALID_QUERY", "invalid query formed", param_name="criteria")
        if len(found) > 10:
            raise error(400, "LIMIT_EXCEEDED", "criteria limit exceeded", limit=10)
        tests = [(f, op, _unescape(v)) for f, op, v in found]
    elif params.get("email"):
        tests = [("Email", "equals", params["email"]),
                 ("Secondary_Email", "equals", params["email"])]
    elif params.get("phone"):
        tests = [("Phone", "equals", params["phone"]), ("Mobile", "equals", params["phone"])]
    elif params.get("word"):
        if len(params["word"]) < 2:
            raise error(400, "INVALID_DATA", "invalid data", param_name="word")
        tests = [(name, "contains", params["word"]) for name in ("Full_Name", "Email",
                                                                  "Company")]
    else:
        raise error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
                    param_name="criteria")
    fields = None
    if params.get("fields"):
        fields = _fields_param(emu, params, module, version)
    converted = params.get("converted", "false")
    horizon = emu.clock.now() - dt.timedelta(seconds=emu.search_lag)
    rows = []
    for record in emu.records[module].values():
        if record["_created"] > horizon:
            continue  # not in the search index yet
        if module == "Leads" and converted != "both" and record["_converted"] != (
            converted == "true"
        ):
            continue
        for name, operator, value in tests:
            held = record.get(name)
            if not isinstance(held, str):
                continue
            low, want = held.lower(), value.lower()
            # Zoho's `equals` on text behaves like "contains" (fact sheet 4.3).
            if (operator in {"equals", "contains"} and want in low) or (
                operator == "starts_with" and low.startswith(want)
            ):
                rows.append(record)
                break
    rows.sort(key=lambda r: (len(r["id"]), r["id"]))
    if len(rows) > PAGE_WINDOW and page * per_page > PAGE_WINDOW:
        raise error(400, "LIMIT_REACHED", "search results beyond 2000 cannot be fetched")
    chunk = rows[(page - 1) * per_page: page * per_page]
    if not chunk:
        return 204, None
    return 200, {
        "data": [emu._render(module, r, fields, version) for r in chunk],
        "info": {"per_page": per_page, "count": len(chunk), "page": page,
                 "more_records": page * per_page < min(len(rows), PAGE_WINDOW)},
    }
