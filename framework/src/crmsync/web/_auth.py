"""Who may call: a signed-in browser for the pages, a bearer token for the API.

Both checks are FastAPI dependencies. A page that needs sign-in sends the browser to
``/login``; a form that fails its CSRF check is refused with 403; an API call without
the right token gets 401 with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crmsync.web._errors import ApiError
from crmsync.web._secrets import verify
from crmsync.web._session import Session

__all__ = [
    "CsrfRefused",
    "SignInRequired",
    "TokenChecker",
    "api_token",
    "csrf_checked",
    "session_of",
    "signed_in",
]


class SignInRequired(Exception):
    """A page asked for without a signed-in session (answered with a redirect)."""


class CsrfRefused(Exception):
    """A form posted without the session's CSRF token (answered with 403)."""


def session_of(request: Request) -> Session:
    """The request's session, loaded by the app's middleware."""
    session = getattr(request.state, "session", None)
    assert isinstance(session, Session), "the session middleware did not run"
    return session


def signed_in(request: Request) -> Session:
    """Dependency of every page but sign-in: the signed-in session."""
    session = session_of(request)
    if not session.signed_in:
        raise SignInRequired
    return session


def csrf_checked(
    request: Request,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Session:
    """Dependency of every form post: the session whose CSRF token the form echoed."""
    session = session_of(request)
    if not session.csrf_matches(csrf_token):
        raise CsrfRefused
    return session


class TokenChecker:
    """Checks bearer tokens against the stored hash, remembering recent successes
    (by the token's SHA-256) so that a slow hash is not paid on every call."""

    def __init__(self, stored_hash: str | None) -> None:
        self._stored = stored_hash
        self._good: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return self._stored is not None

    def check(self, token: str) -> bool:
        if self._stored is None:
            return False
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        with self._lock:
            if digest in self._good:
                self._good.move_to_end(digest)
                return True
        if not verify(token, self._stored):
            return False
        with self._lock:
            self._good[digest] = None
            while len(self._good) > 16:
                self._good.popitem(last=False)
        return True


_bearer = HTTPBearer(
    auto_error=False,
    description="The API token made by `crmsync serve --new-token`.",
)


def api_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Dependency of every API route: a valid ``Authorization: Bearer`` token."""
    checker: TokenChecker = request.app.state.tokens
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise ApiError(
            401,
            "unauthorized",
            "this call needs an API token",
            hint="send `Authorization: Bearer TOKEN`; make one with "
            "`crmsync serve --new-token`",
        ).with_headers(challenge)
    if not checker.check(credentials.credentials):
        raise ApiError(
            401,
            "unauthorized",
            "the API token is not valid",
            hint="use the token `crmsync serve --new-token` printed when "
            "CRMSYNC_WEB_TOKEN_HASH was set",
        ).with_headers(challenge)
