"""Every request an emulator answered, with its secrets redacted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

__all__ = ["LoggedRequest", "RequestLog"]

SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "secret", "apikey"}
)
SECRET_FORM_FIELDS = frozenset(
    {
        "client_secret",
        "refresh_token",
        "assertion",
        "client_assertion",
        "password",
        "code",
        "access_token",
    }
)
MASK = "***"


@dataclass(frozen=True)
class LoggedRequest:
    """One request an emulator answered (``status`` 0: no answer was sent)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body_size: int
    body: bytes
    status: int

    def json_body(self) -> Any:
        return json.loads(self.body) if self.body else None

    def form(self) -> dict[str, str]:
        """The body as a form (secrets already masked)."""
        return dict(
            parse_qsl(self.body.decode(errors="replace"), keep_blank_values=True)
        )


class RequestLog:
    """A thread-safe list of :class:`LoggedRequest`.

    Credentials are masked as they are recorded: the ``Authorization`` header keeps
    only its scheme, other ``secret_headers`` become ``***``, and form bodies lose the
    values of ``secret_fields`` (client secrets, refresh tokens, assertions).
    """

    def __init__(
        self,
        *,
        secret_headers: Iterable[str] = (),
        secret_fields: Iterable[str] = (),
    ) -> None:
        self.secret_headers = SECRET_HEADERS | {h.lower() for h in secret_headers}
        self.secret_fields = SECRET_FORM_FIELDS | set(secret_fields)
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Any:
        with self._lock:
            return iter(list(self._entries))

    def __getitem__(self, index: int) -> LoggedRequest:
        with self._lock:
            return self._entries[index]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def record(self, request: httpx.Request, body: bytes, status: int) -> LoggedRequest:
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            name = key.lower()
            if name == "authorization":
                scheme = value.partition(" ")[0] or "Bearer"
                headers[name] = f"{scheme} {MASK}"
            elif name in self.secret_headers:
                headers[name] = MASK
            else:
                headers[name] = value
        content_type = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" in content_type and body:
            pairs = parse_qsl(body.decode(errors="replace"), keep_blank_values=True)
            body = urlencode(
                [(k, MASK if k in self.secret_fields else v) for k, v in pairs]
            ).encode()
        entry = LoggedRequest(
            request.method,
            request.url.path,
            dict(request.url.params),
            headers,
            len(body),
            body,
            status,
        )
        with self._lock:
            self._entries.append(entry)
        return entry

    def calls(
        self, method: str | None = None, path_contains: str = ""
    ) -> list[LoggedRequest]:
        """Logged requests filtered by method and path fragment."""
        with self._lock:
            return [
                r
                for r in self._entries
                if (method is None or r.method == method) and path_contains in r.path
            ]
