"""How the emulated API answers: JSON bodies, ``{"errors": [...]}`` refusals, and the
framework-level 404/405 ``{"Message": ...}`` answers."""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = ["Answer", "bad_verb", "errors", "json_response", "no_route"]


class Answer(Exception):
    """Raised anywhere in a request's handling to answer it with ``response``."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response


def json_response(
    status: int, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def errors(*messages: str, status: int = 500) -> Answer:
    """An API-level refusal: ``{"errors": [...]}`` (HTTP 500 unless told)."""
    return Answer(json_response(status, {"errors": list(messages)}))


def no_route(path: str) -> Answer:
    message = f"No HTTP resource was found that matches the request URI '{path}'."
    return Answer(json_response(404, {"Message": message}))


def bad_verb(method: str) -> Answer:
    return Answer(
        json_response(
            405, {"Message": f"The requested resource does not support http method '{method}'."}
        )
    )
