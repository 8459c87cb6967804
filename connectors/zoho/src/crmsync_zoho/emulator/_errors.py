"""What the emulator's modules share: Zoho's error body, grants, page tokens, the API
user."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PAGE_WINDOW",
    "TOKEN_WINDOW_RECORDS",
    "USER",
    "Client",
    "Grant",
    "PageToken",
    "Reply",
    "error",
]

USER = {"name": "Api User", "id": "4970762000000287001", "email": "api.user@example.com"}
PAGE_WINDOW = 2000  # records reachable through `page`
TOKEN_WINDOW_RECORDS = 100_000  # records reachable through `page_token`


@dataclass
class Client:
    client_id: str
    client_secret: str
    scopes: str


@dataclass
class Grant:
    client_id: str
    scopes: str
    expires_at: dt.datetime | None = None
    uses: list[dt.datetime] = field(default_factory=list)


@dataclass
class PageToken:
    binding: tuple[Any, ...]
    offset: int
    expires_at: dt.datetime


class Reply(Exception):
    """An answer decided early (an error body, an empty 204)."""

    def __init__(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def error(status: int, code: str, message: str, **details: Any) -> Reply:
    return Reply(status, {"code": code, "details": details, "message": message,
                           "status": "error"})
