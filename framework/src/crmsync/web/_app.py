"""The web app: the administrator's pages and the REST API under ``/api/v1``.

:func:`create_app` wires the parts: a middleware that loads the session and adds the
security headers, error handlers that answer JSON under ``/api`` and HTML elsewhere, the
API routers behind a bearer token and the pages behind a signed-in session.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from crmsync import __version__
from crmsync.errors import CrmsyncError
from crmsync.web._auth import CsrfRefused, SignInRequired, TokenChecker, api_token
from crmsync.web._backend import Backend
from crmsync.web._errors import API_HANDLERS, classify
from crmsync.web._secrets import check_hash
from crmsync.web._session import COOKIE, Session, SessionCodec
from crmsync.web._settings import WebSettings
from crmsync.web._templates import render
from crmsync.web.pages._signin import SignInThrottle

__all__ = ["create_app"]

_HERE = Path(__file__).parent

# The pages load only their own script and style; nothing may frame them.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def create_app(
    backend: Backend,
    web: WebSettings | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The web app over ``backend``; ``web`` says how people sign in.

    Refuses to build without an administrator password hash or API token hash: an
    app nobody may sign in to protects nothing and helps no one.
    """
    web = web or WebSettings()
    password_hash = web.password_hash.get_secret_value() if web.password_hash else None
    token_hash = web.token_hash.get_secret_value() if web.token_hash else None
    if password_hash is None and token_hash is None:
        from crmsync.errors import ConfigurationError

        raise ConfigurationError(
            "no administrator password or API token is set",
            hint="run `crmsync serve --hash-password` (and/or --new-token) and set "
            "CRMSYNC_WEB_PASSWORD_HASH (CRMSYNC_WEB_TOKEN_HASH) to what it prints",
        )
    if password_hash is not None:
        check_hash(password_hash, "CRMSYNC_WEB_PASSWORD_HASH")
    if token_hash is not None:
        check_hash(token_hash, "CRMSYNC_WEB_TOKEN_HASH")
    key = (
        web.session_key.get_secret_value()
        if web.session_key
        else secrets.token_urlsafe(32)
    )
    codec = SessionCodec(key, max_age_seconds=web.session_hours * 3600)

    app = FastAPI(
        title="crmsync",
        version=__version__,
        description="Configure and run crmsync integrations. Every call needs "
        "`Authorization: Bearer TOKEN` (`crmsync serve --new-token`). Errors share "
        'one shape: `{"error": {status, code, message, hint, field}}`.',
        # Served by the API router, behind the token like every other call.
        openapi_url=None,
        # The interactive docs load scripts from a CDN, which the pages' policy forbids.
        docs_url=None,
        redoc_url=None,
    )
    app.state.backend = backend
    app.state.web = web
    app.state.password_hash = password_hash
    app.state.tokens = TokenChecker(token_hash)
    app.state.clock = clock
    app.state.sign_in_throttle = SignInThrottle()

    @app.middleware("http")
    async def _session_and_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        is_api = request.url.path.startswith("/api/")
        session = (
            Session()
            if is_api
            else codec.load(request.cookies.get(COOKIE), now=clock())
        )
        request.state.session = session
        response = await call_next(request)
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if not is_api and (session.changed or COOKIE not in request.cookies):
            response.set_cookie(
                COOKIE,
                codec.dump(session),
                max_age=int(web.session_hours * 3600),
                httponly=True,
                samesite="strict",
                secure=web.secure_cookies,
                path="/",
            )
        return response

    _install_handlers(app)

    from crmsync.web.api import router as api_router
    from crmsync.web.pages import router as pages_router

    app.include_router(api_router, prefix="/api/v1", dependencies=[Depends(api_token)])
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
    return app


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _install_handlers(app: FastAPI) -> None:
    def dispatch(kind: type[BaseException]) -> Callable[..., Any]:
        api_handler = API_HANDLERS[kind]

        async def handle(request: Request, exc: Exception) -> Response:
            if _is_api(request):
                return api_handler(request, exc)
            return _page_error(request, exc)

        return handle

    for kind in API_HANDLERS:
        app.add_exception_handler(kind, dispatch(kind))

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"/login?next={quote(target, safe='')}", 303)

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return render(
            request,
            "error.html",
            {
                "title": "Form refused",
                "message": "This form was not sent from a page of this app, or it "
                "expired (a sign-in renews every form).",
                "hint": "Go back, reload the page and send it again.",
            },
            status_code=403,
        )

    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)


def _page_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        status, title, message, hint = (
            exc.status_code,
            "Not found",
            str(exc.detail),
            None,
        )
        if status != 404:
            title = "Refused"
    elif isinstance(exc, CrmsyncError):
        status, _ = classify(exc)
        title, message, hint = "Cannot do that", exc.message, exc.hint
    elif isinstance(exc, RequestValidationError | ValidationError):
        status, title = 422, "Bad input"
        problems = list(exc.errors())
        first = problems[0] if problems else {"loc": (), "msg": "invalid input"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body",))
        message, hint = f"{where}: {first.get('msg')}", None
    else:  # pragma: no cover - handlers are installed for the kinds above only
        return JSONResponse({"detail": "error"}, status_code=500)
    if (
        not getattr(request.state, "session", None)
        or not request.state.session.signed_in
    ):
        # Say nothing about what exists to a visitor who has not signed in.
        return RedirectResponse("/login", 303)
    return render(
        request,
        "error.html",
        {"title": title, "message": message, "hint": hint},
        status_code=status,
    )
