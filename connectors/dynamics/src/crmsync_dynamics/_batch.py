"""Writes as one ``$batch``: a changeset per record, ``odata.continue-on-error``, and
each record's answer read from its own changeset response (fact sheet 5, 10.5)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crmsync_dynamics._errors import field_of
from crmsync_dynamics._multipart import (
    HttpMessage,
    MultipartError,
    boundary_of,
    parse_http_message,
    split_multipart,
    write_http_message,
    write_multipart,
)

__all__ = [
    "BatchRequest",
    "Operation",
    "PartAnswer",
    "build_batch",
    "build_reads",
    "read_batch",
    "read_reads",
]


@dataclass(frozen=True)
class Operation:
    """One request of a record's changeset: method, path under the API root,
    headers, JSON body."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class BatchRequest:
    """One record's changeset: its operations, first the write itself."""

    key: int  # the record's position in the push
    operations: tuple[Operation, ...]


@dataclass
class PartAnswer:
    """What the batch said of one record: its first operation's answer, or the
    failing operation's error."""

    status: int
    headers: dict[str, str]
    body: Any
    code: str | None = None
    message: str = ""
    field: str | None = None


def build_batch(api_path: str, requests: Sequence[BatchRequest]) -> tuple[str, str]:
    """``(content type, body)`` of a ``$batch`` with one changeset per request.

    Content-IDs run 1, 2, 3... across the whole batch (unique, as the official SDK
    allocates them), so :func:`read_batch` can tie each answer to its record.
    """
    outer = f"batch_{uuid.uuid4()}"
    parts: list[tuple[dict[str, str], str]] = []
    content_id = 0
    for request in requests:
        inner = f"changeset_{uuid.uuid4()}"
        operations: list[tuple[dict[str, str], str]] = []
        for operation in request.operations:
            content_id += 1
            headers = {
                "Content-Type": "application/http",
                "Content-Transfer-Encoding": "binary",
                "Content-ID": f"{content_id}",
            }
            message_headers = dict(operation.headers)
            text = None
            if operation.body is not None:
                message_headers["Content-Type"] = "application/json; type=entry"
                text = json.dumps(operation.body)
            message = write_http_message(
                f"{operation.method} {api_path}/{operation.path} HTTP/1.1", message_headers, text
            )
            operations.append((headers, message))
        parts.append(
            (
                {"Content-Type": f'multipart/mixed; boundary="{inner}"'},
                write_multipart(inner, operations).rstrip("\r\n"),
            )
        )
    return f'multipart/mixed; boundary="{outer}"', write_multipart(outer, parts)


def _answer(message: HttpMessage) -> PartAnswer:
    body: Any = None
    if message.body.strip():
        try:
            body = json.loads(message.body)
        except ValueError:
            body = message.body
    answer = PartAnswer(message.status, message.headers, body)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        answer.code = str(error.get("code") or "") or None
        answer.message = " ".join(str(error.get("message") or "").split())
        answer.field = field_of(answer.message)
    return answer


def read_batch(
    content_type: str, body: str, requests: Sequence[BatchRequest]
) -> dict[int, PartAnswer]:
    """Each record's answer, keyed by ``BatchRequest.key``.

    A changeset response holds either every operation's answer (success: the first
    one's is kept) or the single failing part; parts are matched to records by their
    ``Content-ID``. A record without an answer is absent from the result.
    """
    boundary = boundary_of(content_type)
    if boundary is None:
        raise MultipartError("the $batch answer is not multipart/mixed")
    owner: dict[str, int] = {}
    first: dict[str, int] = {}
    content_id = 0
    for request in requests:
        for index in range(len(request.operations)):
            content_id += 1
            owner[str(content_id)] = request.key
            if index == 0:
                first[str(content_id)] = request.key
    answers: dict[int, PartAnswer] = {}
    for part in split_multipart(body, boundary):
        if "multipart/mixed" in part.content_type.lower():
            inner_boundary = boundary_of(part.content_type) or ""
            for inner in split_multipart(part.body, inner_boundary):
                content = inner.headers.get("content-id", "")
                message = parse_http_message(inner.body)
                answer = _answer(message)
                key = owner.get(content)
                if key is None:
                    continue
                if answer.status >= 400:
                    answers[key] = answer
                elif content in first:
                    answers.setdefault(key, answer)
        else:
            # A top-level part (no changeset): a whole changeset refused before it ran
            # would land here without a Content-ID; it cannot be tied to one record.
            continue
    return answers


def build_reads(api_path: str, paths: Sequence[str]) -> tuple[str, str]:
    """``(content type, body)`` of a ``$batch`` of GETs (top-level parts, no changeset:
    GET is not allowed inside one)."""
    outer = f"batch_{uuid.uuid4()}"
    parts = [
        (
            {"Content-Type": "application/http", "Content-Transfer-Encoding": "binary"},
            write_http_message(f"GET {api_path}/{path} HTTP/1.1", {"Accept": "application/json"}),
        )
        for path in paths
    ]
    return f'multipart/mixed; boundary="{outer}"', write_multipart(outer, parts)


def read_reads(content_type: str, body: str) -> list[PartAnswer]:
    """The answers of a batch of GETs, in request order."""
    boundary = boundary_of(content_type)
    if boundary is None:
        raise MultipartError("the $batch answer is not multipart/mixed")
    return [_answer(parse_http_message(part.body)) for part in split_multipart(body, boundary)]
