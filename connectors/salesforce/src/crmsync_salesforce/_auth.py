"""OAuth 2.0 against the Salesforce token endpoint: JWT bearer, client credentials, refresh."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from crmsync.errors import AuthenticationFailed
from crmsync_salesforce._errors import (
    CONNECTOR,
    raise_for_token_response,
    raise_transport_error,
)
from crmsync_salesforce._settings import SalesforceSettings

__all__ = ["Session", "fetch_session"]

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 180  # seconds, as simple-salesforce does; the server's tolerance is unknown


@dataclass(frozen=True)
class Session:
    """An access token and the instance it is valid for (the token never in the repr)."""

    access_token: str = field(repr=False)
    instance_url: str
    generation: int


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


def _form(settings: SalesforceSettings, now: float) -> dict[str, str]:
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
    assert settings.refresh_token is not None
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "refresh_token": settings.refresh_token.get_secret_value(),
    }
    if settings.client_secret is not None:
        form["client_secret"] = settings.client_secret.get_secret_value()
    return form


def fetch_session(
    client: httpx.Client,
    settings: SalesforceSettings,
    clock: Callable[[], float],
    generation: int,
) -> Session:
    """Ask the token endpoint for a new session (no retries: the framework owns those)."""
    url = f"{settings.login_url}/services/oauth2/token"
    try:
        response = client.post(
            url, data=_form(settings, clock()), headers={"Accept": "application/json"}
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
    return Session(token, instance, generation)
