"""Sign in and sign out."""

from __future__ import annotations

import threading
from collections import deque
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from crmsync.web._auth import csrf_checked, session_of
from crmsync.web._secrets import verify
from crmsync.web._session import Session
from crmsync.web._templates import render

router = APIRouter()

# Failed sign-ins allowed per window before the form refuses to check any more: a
# password guesser gets a handful of tries a minute, an administrator who mistypes
# never notices.
FAILURES_ALLOWED = 10
FAILURE_WINDOW_SECONDS = 60.0


class SignInThrottle:
    """Counts recent failed sign-ins (for this process) on the app's clock."""

    def __init__(self) -> None:
        self._failures: deque[float] = deque()
        self._lock = threading.Lock()

    def _forget(self, now: float) -> None:
        while self._failures and now - self._failures[0] > FAILURE_WINDOW_SECONDS:
            self._failures.popleft()

    def blocked(self, now: float) -> bool:
        with self._lock:
            self._forget(now)
            return len(self._failures) >= FAILURES_ALLOWED

    def failed(self, now: float) -> None:
        with self._lock:
            self._failures.append(now)


def _safe_next(target: str | None) -> str:
    """Only a path of this app: never another site (an open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
    ):
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    session = session_of(request)
    if session.signed_in:
        return RedirectResponse(_safe_next(next), 303)
    return render(
        request,
        "login.html",
        {
            "next": _safe_next(next),
            "error": None,
            "password_set": request.app.state.password_hash is not None,
        },
    )


@router.post("/login")
def login(
    request: Request,
    session: Annotated[Session, Depends(csrf_checked)],
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    stored: str | None = request.app.state.password_hash
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    now = request.app.state.clock()
    if throttle.blocked(now):
        return render(
            request,
            "login.html",
            {
                "next": _safe_next(next),
                "error": "Too many failed sign-ins: wait a minute, then try again.",
                "password_set": stored is not None,
            },
            status_code=429,
        )
    if stored is None or not password or not verify(password, stored):
        throttle.failed(now)
        return render(
            request,
            "login.html",
            {
                "next": _safe_next(next),
                "error": "That password is not right.",
                "password_set": stored is not None,
            },
            status_code=401,
        )
    session.sign_in(now)
    return RedirectResponse(_safe_next(next), 303)


@router.post("/logout")
def logout(session: Annotated[Session, Depends(csrf_checked)]) -> Response:
    session.sign_out()
    return RedirectResponse("/login", 303)
