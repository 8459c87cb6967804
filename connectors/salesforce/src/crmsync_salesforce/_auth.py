"""OAuth 2.0 against the Salesforce token endpoint: JWT bearer, client credentials, refresh."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import structlog

from crmsync.errors import AuthenticationFailed
from crmsync_salesforce._errors import (
    CONNECTOR,
    raise_for_token_response,
    raise_transport_error,
)
from crmsync_salesforce._settings import SalesforceSettings

__all__ = ["RefreshToken", "Session", "fetch_session"]

log = structlog.get_logger("crmsync.salesforce")

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 180  # seconds, as simple-salesforce does; the server's tolerance is unknown


@dataclass(frozen=True)
class Session:
    """An access token and the instance it is valid for (the token never in the repr)."""

    access_token: str = field(repr=False)
    instance_url: str
    generation: int


class RefreshToken:
    """The refresh token in use, following Salesforce's refresh token rotation.

    With rotation on (the app setting Salesforce recommends), every refresh answers a
    new refresh token and revokes the one used: the next renewal must send the new
    one. With ``refresh_token_file`` set, the token is read from that file and each
    rotated token is written back to it (atomically, owner-only), so a restarted
    process still holds a valid token; without it, a rotated token lives in memory
    only, and a warning says so.
    """

    def __init__(self, settings: SalesforceSettings) -> None:
        self._file = settings.refresh_token_file
        self._value = (
            settings.refresh_token.get_secret_value()
            if settings.refresh_token is not None
            else None
        )
        self._read_file = self._file is not None
        self._lock = threading.Lock()

    def current(self) -> str:
        with self._lock:
            if self._read_file:
                self._value = _read_token_file(self._file)
                self._read_file = False
            assert self._value is not None  # enforced by the settings validator
            return self._value

    def rotated(self, new: str) -> None:
        """Keep the refresh token a token answer carried (a no-op if unchanged)."""
        with self._lock:
            if not new or new == self._value:
                return
            self._value = new
            if self._file is None:
                log.warning(
                    "refresh_token_rotated_in_memory_only",
                    hint="set CRMSYNC_SALESFORCE_REFRESH_TOKEN_FILE so that a restart "
                    "can renew the session with the rotated token",
                )
                return
            _write_token_file(self._file, new)


def _read_token_file(path: Path | None) -> str:
    assert path is not None
    try:
        token = path.read_text().strip()
    except OSError as error:
        raise AuthenticationFailed(
            f"cannot read refresh_token_file {path}: {error.strerror}",
            connector=CONNECTOR,
        ) from None
    if not token:
        raise AuthenticationFailed(
            f"refresh_token_file {path} is empty",
            hint="write the connected app's refresh token into it",
            connector=CONNECTOR,
        )
    return token


def _write_token_file(path: Path, token: str) -> None:
    """Replace the file's token atomically: a crash leaves the old or the new one."""
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "w") as file:  # mkstemp creates it owner-only
                file.write(token + "\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        # The session is valid; only a restart would need the token. Stop anyway: an
        # operator must know that the stored token is about to be revoked.
        raise AuthenticationFailed(
            f"cannot save the rotated refresh token to {path}: {error.strerror}",
            hint="make the refresh_token_file's folder writable by crmsync",
            connector=CONNECTOR,
        ) from None


def _private_key(settings: SalesforceSettings) -> str:
    if settings.private_key is not None:
        return settings.private_key.get_secret_value()
    assert settings.private_key_file is not None  # enforced by the settings validator
    try:
        return settings.private_key_file.read_text()
    except OSError as error:
        raise AuthenticationFailed(
            f"cannot read private_key_file {settings.private_key_file}: {error.strerror}",
            connector=CONNECTOR,
        ) from None


def _form(settings: SalesforceSettings, now: float, refresh: RefreshToken | None) -> dict[str, str]:
    client_id = settings.client_id or ""
    if settings.auth_flow == "jwt":
        claims = {
            "iss": client_id,
            "sub": settings.username,
            "aud": settings.audience(),
            "exp": int(now) + ASSERTION_LIFETIME,
        }
        try:
            assertion = jwt.encode(claims, _private_key(settings), algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            raise AuthenticationFailed(
                "the private key is not a usable PEM RSA key", connector=CONNECTOR
            ) from None
        return {"grant_type": JWT_GRANT, "assertion": assertion}
    if settings.auth_flow == "client_credentials":
        assert settings.client_secret is not None
        return {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": settings.client_secret.get_secret_value(),
        }
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "refresh_token": (refresh or RefreshToken(settings)).current(),
    }
    if settings.client_secret is not None:
        form["client_secret"] = settings.client_secret.get_secret_value()
    return form


def fetch_session(
    client: httpx.Client,
    settings: SalesforceSettings,
    clock: Callable[[], float],
    generation: int,
    refresh: RefreshToken | None = None,
) -> Session:
    """Ask the token endpoint for a new session (no retries: the framework owns those).

    ``refresh`` holds the refresh token of the refresh-token flow and receives the new
    one when Salesforce rotates it.
    """
    url = f"{settings.login_url}/services/oauth2/token"
    try:
        response = client.post(
            url,
            data=_form(settings, clock(), refresh),
            headers={"Accept": "application/json"},
        )
    except httpx.TransportError as error:
        raise_transport_error(error, what="token request")
    if response.status_code != 200:
        raise_for_token_response(response)
    try:
        body: Any = response.json()
        token = str(body["access_token"])
        instance = str(body["instance_url"]).rstrip("/")
    except (ValueError, KeyError, TypeError):
        raise AuthenticationFailed(
            "the token endpoint answered 200 without access_token/instance_url",
            connector=CONNECTOR,
        ) from None
    rotated = body.get("refresh_token")
    if refresh is not None and isinstance(rotated, str):
        refresh.rotated(rotated)
    return Session(token, instance, generation)
