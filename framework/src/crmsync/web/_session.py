"""The signed session cookie of the pages, and the CSRF token it carries.

A session is a small signed (not encrypted) cookie: whether the browser signed in, and
the CSRF token every form echoes back. It holds no secret of the administrator's; a
visitor who has not signed in gets one too, so that the sign-in form is protected
against CSRF like every other form. Signing out (or rotating the session key) ends it.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

__all__ = ["COOKIE", "Session", "SessionCodec"]

COOKIE = "crmsync_session"


@dataclass
class Session:
    """One browser's session: ``signed_in`` and its CSRF token."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    signed_in: bool = False
    signed_in_at: float | None = None
    flashes: list[tuple[str, str]] = field(default_factory=list)
    changed: bool = True

    def flash(self, level: str, message: str) -> None:
        """A one-line message for the next page shown (``ok`` or ``error``)."""
        self.flashes.append((level, message[:500]))
        self.changed = True

    def take_flashes(self) -> list[tuple[str, str]]:
        taken, self.flashes = self.flashes, []
        if taken:
            self.changed = True
        return taken

    def sign_in(self, now: float) -> None:
        # A new CSRF token at sign-in: one learned before it is worth nothing after.
        self.csrf = secrets.token_urlsafe(24)
        self.signed_in = True
        self.signed_in_at = now
        self.changed = True

    def sign_out(self) -> None:
        self.csrf = secrets.token_urlsafe(24)
        self.signed_in = False
        self.signed_in_at = None
        self.changed = True

    def csrf_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(
            given.encode("utf-8"), self.csrf.encode("utf-8")
        )


class SessionCodec:
    """Reads and writes :class:`Session` cookies signed with ``key``."""

    def __init__(self, key: str, *, max_age_seconds: float) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="crmsync.web.session")
        self.max_age = max_age_seconds

    def load(self, cookie: str | None, *, now: float | None = None) -> Session:
        """The session in ``cookie``; a fresh one when it is missing, forged or old."""
        if not cookie:
            return Session()
        try:
            data: Any = self._serializer.loads(cookie, max_age=int(self.max_age))
        except BadSignature:
            return Session()
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return Session()
        raw_at = data.get("at")
        signed_at = float(raw_at) if isinstance(raw_at, int | float) else None
        signed_in = bool(data.get("in")) and signed_at is not None
        moment = time.time() if now is None else now
        if signed_at is not None and signed_in and moment - signed_at > self.max_age:
            return Session()
        flashes = [
            (str(level), str(text))
            for level, text in data.get("f", [])
            if isinstance(level, str) and isinstance(text, str)
        ]
        return Session(
            csrf=data["csrf"],
            signed_in=signed_in,
            signed_in_at=signed_at if signed_in else None,
            flashes=flashes,
            changed=False,
        )

    def dump(self, session: Session) -> str:
        data: dict[str, Any] = {"csrf": session.csrf}
        if session.signed_in:
            data["in"] = True
            data["at"] = session.signed_in_at
        if session.flashes:
            data["f"] = session.flashes
        return self._serializer.dumps(data)
