"""``POST $batch``: parts, changesets (atomic, ``Content-ID`` references), stop on the
first error or, with ``Prefer: odata.continue-on-error``, go on (fact sheet 5, 10.5)."""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from crmsync_dynamics._multipart import (
    MultipartError,
    Part,
    boundary_of,
    parse_http_message,
    split_multipart,
    write_http_message,
    write_multipart,
)
from crmsync_dynamics.emulator._store import DataverseError

if TYPE_CHECKING:
    from crmsync_dynamics.emulator._core import DataverseEmulator, Reply, Request

__all__ = ["MAX_PARTS", "run"]

MAX_PARTS = 1000
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_REFERENCE = re.compile(r"^\$(\d+)(.*)$")
_API = re.compile(r"^/?api/data/v9\.[012]/")


def _fail(message: str) -> DataverseError:
    return DataverseError(400, "0x0", message)


def _inner_request(
    emu: DataverseEmulator, part: Part, ids: dict[str, str], outer: Request
) -> Request:
    from crmsync_dynamics.emulator._core import Request

    if "application/http" not in part.content_type.lower():
        raise _fail(
            f"A batch part has the Content-Type '{part.content_type}', not application/http."
        )
    message = parse_http_message(part.body)
    pieces = message.start.split()
    if len(pieces) < 2:
        raise _fail(f"The request line '{message.start[:80]}' is not valid.")
    method, target = pieces[0].upper(), pieces[1]
    reference = _REFERENCE.match(target)
    if reference is not None:
        found = ids.get(reference.group(1))
        if found is None:
            raise _fail(
                f"Content-ID Reference: '${reference.group(1)}' does not exist in the batch "
                "context."
            )
        target = found + reference.group(2)
    parts = urlsplit(target)
    path = parts.path  # an absolute URL, a /api/data/v9.2/ path or a relative one
    path = _API.sub("", path.lstrip("/")) if _API.match(path) else path.lstrip("/")
    body = message.body
    for cid, url in ids.items():
        body = body.replace(f'"${cid}"', json.dumps(url))
    headers = {
        **{k: v for k, v in outer.headers.items() if k in {"authorization"}},
        **message.headers,
    }
    return Request(
        method,
        unquote(path),
        dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers,
        body,
    )


def _response_part(reply: Reply, content_id: str | None) -> tuple[dict[str, str], str]:
    headers = {"Content-Type": "application/http", "Content-Transfer-Encoding": "binary"}
    if content_id is not None:
        headers["Content-ID"] = content_id
    inner: dict[str, str] = {"OData-Version": "4.0"}
    body_text = ""
    if reply.status >= 400:
        inner["REQ_ID"] = str(uuid.uuid4())
    inner.update(reply.headers)
    if reply.body is not None:
        inner["Content-Type"] = "application/json; odata.metadata=minimal"
        body_text = json.dumps(reply.body)
    start = f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}"
    return headers, write_http_message(start, inner, body_text)


def run(emu: DataverseEmulator, request: Request) -> Reply:
    from crmsync_dynamics.emulator._core import Reply

    boundary = boundary_of(request.headers.get("content-type", ""))
    if boundary is None or "multipart/mixed" not in request.headers.get("content-type", "").lower():
        raise _fail(
            "The batch request must have a Content-Type of multipart/mixed with a boundary."
        )
    try:
        parts = split_multipart(request.body, boundary)
    except MultipartError as error:
        raise _fail(f"The batch request could not be read: {error}") from None
    continue_on_error = "odata.continue-on-error" in request.prefer()
    count = sum(
        len(split_multipart(p.body, boundary_of(p.content_type) or ""))
        if "multipart/mixed" in p.content_type.lower()
        else 1
        for p in parts
    )
    if count > MAX_PARTS:
        raise _fail(f"The batch has {count} requests; the maximum is {MAX_PARTS}.")
    out: list[tuple[dict[str, str], str]] = []
    ids: dict[str, str] = {}
    failed_status: int | None = None
    for part in parts:
        if "multipart/mixed" in part.content_type.lower():
            status, rendered = _changeset(emu, part, ids, request)
            out.append(rendered)
        else:
            try:
                inner = _inner_request(emu, part, ids, request)
                reply = emu.dispatch(inner)
            except (DataverseError, MultipartError) as error:
                failure = error if isinstance(error, DataverseError) else _fail(str(error))
                reply = Reply(failure.status, failure.body())
            status = reply.status
            out.append(_response_part(reply, None))
        if status >= 400 and not continue_on_error:
            failed_status = status
            break
    answer_boundary = f"batchresponse_{uuid.uuid4()}"
    body = write_multipart(answer_boundary, out)
    outer = 200 if failed_status is None else failed_status
    headers = {"Preference-Applied": "odata.continue-on-error"} if continue_on_error else {}
    return Reply(
        outer,
        raw=body,
        headers=headers,
        content_type=f"multipart/mixed; boundary={answer_boundary}",
    )


def _changeset(
    emu: DataverseEmulator, part: Part, ids: dict[str, str], outer: Request
) -> tuple[int, tuple[dict[str, str], str]]:
    """Run one changeset atomically; (worst status, its rendered response part)."""
    from crmsync_dynamics.emulator._core import Reply

    boundary = boundary_of(part.content_type) or ""
    inner_parts = split_multipart(part.body, boundary)
    answer = f"changesetresponse_{uuid.uuid4()}"
    rendered: list[tuple[dict[str, str], str]] = []
    with emu.store.transaction() as journal:
        for inner_part in inner_parts:
            content_id = inner_part.headers.get("content-id")
            try:
                inner = _inner_request(emu, inner_part, ids, outer)
                if inner.method == "GET":
                    raise _fail("GET requests are not allowed inside a changeset.")
                reply = emu.dispatch(inner)
            except (DataverseError, MultipartError) as error:
                failure = error if isinstance(error, DataverseError) else _fail(str(error))
                reply = Reply(failure.status, failure.body())
            if reply.status >= 400:
                journal.rollback()
                headers = {"Content-Type": f"multipart/mixed; boundary={answer}"}
                single = write_multipart(answer, [_response_part(reply, content_id)])
                return reply.status, (headers, single)
            if content_id is not None:
                location = reply.headers.get("OData-EntityId") or reply.headers.get("Location")
                if location:
                    ids[content_id] = location
            rendered.append(_response_part(reply, content_id))
    headers = {"Content-Type": f"multipart/mixed; boundary={answer}"}
    return 200, (headers, write_multipart(answer, rendered))
