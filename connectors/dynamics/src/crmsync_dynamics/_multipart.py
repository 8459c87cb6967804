"""``multipart/mixed`` for OData ``$batch``: split a body into parts and parts into
HTTP messages, and write them back.

Both sides of ``$batch`` need this (the connector writes requests and reads responses;
the emulator reads requests and writes responses), and the framing rules are the same
(fact sheet section 5): CRLF or LF line ends, quoted or unquoted boundaries, part
headers before a blank line, an embedded ``application/http`` message per part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "HttpMessage",
    "MultipartError",
    "Part",
    "boundary_of",
    "parse_http_message",
    "split_multipart",
    "write_http_message",
    "write_multipart",
]

_BOUNDARY = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)


class MultipartError(ValueError):
    """A body that is not a readable ``multipart/mixed`` batch."""


@dataclass
class Part:
    """One part: its headers (names lower-cased) and its body text."""

    headers: dict[str, str]
    body: str

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass
class HttpMessage:
    """An HTTP request or response carried inside a part.

    ``start`` is the request line (``PATCH /api/data/v9.2/leads(...) HTTP/1.1``) or the
    status line (``HTTP/1.1 204 No Content``).
    """

    start: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    @property
    def status(self) -> int:
        """The status code of a response message."""
        pieces = self.start.split()
        if len(pieces) < 2 or not pieces[1].isdigit():
            raise MultipartError(f"not an HTTP status line: {self.start[:80]!r}")
        return int(pieces[1])


def boundary_of(content_type: str) -> str | None:
    """The ``boundary`` parameter of a multipart content type, unquoted."""
    match = _BOUNDARY.search(content_type or "")
    if match is None:
        return None
    return match.group(1) or match.group(2)


def _split_head(text: str) -> tuple[list[str], str]:
    """Header lines and the body after the first blank line."""
    normalised = text.replace("\r\n", "\n")
    head, sep, body = normalised.partition("\n\n")
    if not sep:
        head, body = normalised, ""
    lines = [line for line in head.split("\n")]
    return lines, body


def _headers(lines: Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise MultipartError(f"malformed header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def split_multipart(body: str, boundary: str) -> list[Part]:
    """The parts of a multipart body delimited by ``boundary``."""
    text = body.replace("\r\n", "\n")
    delimiter = f"--{boundary}"
    if delimiter not in text:
        raise MultipartError(f"the body holds no part delimited by {delimiter!r}")
    chunks = text.split(delimiter)
    parts: list[Part] = []
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith("--"):
            closed = True
            break
        chunk = chunk.removeprefix("\n")
        lines, part_body = _split_head(chunk)
        parts.append(Part(_headers(lines), part_body.rstrip("\n")))
    if not closed:
        raise MultipartError(f"the batch is not closed with {delimiter}--")
    return parts


def parse_http_message(text: str) -> HttpMessage:
    """The HTTP message (request or response) of an ``application/http`` part."""
    stripped = text.replace("\r\n", "\n").lstrip("\n")
    lines, body = _split_head(stripped)
    if not lines or not lines[0].strip():
        raise MultipartError("an application/http part holds no request or status line")
    return HttpMessage(lines[0].strip(), _headers(lines[1:]), body.rstrip("\n"))


def write_http_message(
    start: str, headers: Mapping[str, str] | None = None, body: str | None = None
) -> str:
    """An HTTP message as part text (CRLF line ends)."""
    lines = [start, *(f"{name}: {value}" for name, value in (headers or {}).items())]
    return "\r\n".join(lines) + "\r\n\r\n" + (body or "")


def write_multipart(boundary: str, parts: Sequence[tuple[Mapping[str, str], str]]) -> str:
    """A multipart body: each part's headers, a blank line, its text (CRLF line ends)."""
    out: list[str] = []
    for headers, text in parts:
        head = "\r\n".join(f"{name}: {value}" for name, value in headers.items())
        out.append(f"--{boundary}\r\n{head}\r\n\r\n{text}\r\n")
    out.append(f"--{boundary}--\r\n")
    return "".join(out)
