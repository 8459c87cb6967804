"""Route table of the emulated REST API: which path answers which verb.

A path with no route answers 404 (unknown entity, writes to top-level ``/Contacts``,
``V2.0``); a route that exists but not for the verb answers 405 with
``{"Message": ...}`` (fact sheet section 5).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx

from crmsync_autotask.emulator._answers import bad_verb, errors, json_response, no_route
from crmsync_autotask.emulator._core import ApiUser

if TYPE_CHECKING:
    from crmsync_autotask.emulator._core import AutotaskEmulator

__all__ = ["route"]


def _body(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise errors("The request body is not valid JSON.") from None


def route(
    emulator: AutotaskEmulator,
    request: httpx.Request,
    body: bytes,
    rest: list[str],
    user: ApiUser,
) -> httpx.Response:
    method = request.method
    path = request.url.path
    lowered = [p.lower() for p in rest]
    if lowered == ["thresholdinformation"]:
        if method != "GET":
            raise bad_verb(method)
        with emulator._lock:
            used = len(emulator._hour)
        return json_response(
            200,
            {
                "externalRequestThreshold": emulator.threshold,
                "requestThresholdTimeframe": 60,
                "currentTimeframeRequestCount": used,
            },
        )
    if not rest:
        raise no_route(path)
    key, schema = emulator.schema(rest[0], path)
    tail = lowered[1:]
    if tail[:1] == ["query"]:
        return _query(emulator, request, body, key, tail[1:], user)
    if tail[:1] == ["entityinformation"]:
        if method != "GET":
            raise bad_verb(method)
        if tail == ["entityinformation"]:
            return json_response(200, {"info": schema.info()})
        if tail == ["entityinformation", "fields"]:
            return json_response(200, {"fields": [f.info() for f in schema.fields]})
        if tail == ["entityinformation", "userdefinedfields"]:
            return json_response(200, {"fields": [u.info() for u in schema.udfs]})
        raise no_route(path)
    if not tail:
        # Companies has a collection route for writes; Contacts has none at all.
        if key != "companies":
            raise no_route(path)
        if method not in {"POST", "PATCH", "PUT"}:
            raise bad_verb(method)
        item = emulator.write(
            key,
            method,
            _body(body),
            user,
            impersonating=request.headers.get("ImpersonationResourceId"),
        )
        return json_response(200, {"itemId": item})
    if not tail[0].isdigit():
        raise no_route(path)
    record_id = int(tail[0])
    if len(tail) == 1:
        if method != "GET":
            raise bad_verb(method)
        found = emulator.get(key, record_id)
        if found is None:
            return emulator.answer_missing()
        return json_response(200, {"item": found})
    if key != "companies" or tail[1] != "contacts":
        raise no_route(path)
    parent = record_id
    if len(tail) == 2:
        if method == "GET":
            query = {"filter": [{"op": "eq", "field": "companyID", "value": parent}]}
            return json_response(200, emulator.query(request, "contacts", query, user))
        if method not in {"POST", "PATCH", "PUT"}:
            raise bad_verb(method)
        if parent not in emulator.records["companies"]:
            raise errors(f"Value does not reference an existing entity for companyID {parent}.")
        item = emulator.write(
            "contacts",
            method,
            _body(body),
            user,
            parent=parent,
            impersonating=request.headers.get("ImpersonationResourceId"),
        )
        return json_response(200, {"itemId": item})
    if len(tail) == 3 and tail[2].isdigit():
        child = int(tail[2])
        if method == "GET":
            found = emulator.get("contacts", child)
            if found is None or found["companyID"] != parent:
                return emulator.answer_missing()
            return json_response(200, {"item": found})
        if method == "DELETE":
            return json_response(200, {"itemId": emulator.delete_contact(parent, child, user)})
        raise bad_verb(method)
    raise no_route(path)


def _query(
    emulator: AutotaskEmulator,
    request: httpx.Request,
    body: bytes,
    key: str,
    tail: list[str],
    user: ApiUser,
) -> httpx.Response:
    method = request.method
    if tail not in ([], ["count"], ["next"]):
        raise no_route(request.url.path)
    if method not in {"GET", "POST"}:
        raise bad_verb(method)
    search: str | None = None
    if method == "POST":
        query = _body(body)
        if not isinstance(query, dict):
            raise errors("The query body must be a JSON object.")
    elif tail == ["next"] and "search" not in request.url.params:
        # The page of a POSTed query must be POSTed again with the same body.
        raise bad_verb(method)
    else:
        query, search = emulator.search_param(request)
    if tail == ["count"]:
        return json_response(200, {"queryCount": emulator.count(key, query, user)})
    after = emulator.paging(request) if tail == ["next"] else None
    return json_response(
        200, emulator.query(request, key, query, user, after_id=after, search=search)
    )
