"""Rendering the pages: one Jinja2 environment with autoescaping, and the values every
page shares (the session's CSRF token, the messages to show, the signed-in state)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from crmsync import __version__

__all__ = ["environment", "render", "when"]

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(moment: dt.datetime | None) -> str:
    """A moment as the pages show it: UTC, to the second."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


_env.filters["when"] = when
_env.filters["number"] = _number


def environment() -> Environment:
    return _env


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """``template`` with ``context`` and what every page shares."""
    session = getattr(request.state, "session", None)
    shared = {
        "request": request,
        "csrf_token": session.csrf if session is not None else "",
        "signed_in": bool(session is not None and session.signed_in),
        "flashes": session.take_flashes() if session is not None else [],
        "version": __version__,
        "path": request.url.path,
    }
    html = _env.get_template(template).render({**shared, **context})
    return HTMLResponse(html, status_code=status_code)
