"""What the pages share: the signed-in workspace, and post-redirect-get helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar
from urllib.parse import quote

from fastapi import Depends
from fastapi.responses import RedirectResponse

from crmsync.errors import CrmsyncError
from crmsync.operations import Workspace, error_line
from crmsync.web._auth import csrf_checked, signed_in
from crmsync.web._backend import workspace
from crmsync.web._session import Session

__all__ = ["Posted", "SignedIn", "Ws", "attempt", "back", "quoted"]

T = TypeVar("T")

SignedIn = Annotated[Session, Depends(signed_in)]
Posted = Annotated[Session, Depends(csrf_checked)]
Ws = Annotated[Workspace, Depends(workspace)]


def quoted(name: str) -> str:
    return quote(name, safe="")


def back(target: str) -> RedirectResponse:
    """Post/redirect/get: after a form, show the page it came from."""
    return RedirectResponse(target, 303)


def attempt(
    session: Session, action: Callable[[], T], done: str | Callable[[T], str]
) -> T | None:
    """Run ``action``; flash ``done`` on success, or the operation's one-line
    refusal (the same line the CLI prints) when it raises."""
    try:
        value = action()
    except CrmsyncError as error:
        session.flash("error", error_line(error))
        return None
    session.flash("ok", done(value) if callable(done) else done)
    return value
