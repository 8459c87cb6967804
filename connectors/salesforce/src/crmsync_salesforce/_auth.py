"""The Salesforce OAuth flows, as the authoring kit's auth objects."""

from __future__ import annotations

from collections.abc import Callable

from crmsync.authoring import (
    ClientCredentials,
    JwtBearer,
    RefreshTokenGrant,
    RefreshTokenStore,
    TokenAuth,
    TokenCache,
)
from crmsync_salesforce._errors import CONNECTOR
from crmsync_salesforce._settings import SalesforceSettings

__all__ = ["make_auth"]

ASSERTION_LIFETIME = 180  # seconds, as simple-salesforce does; the server's tolerance is unknown
_REFUSED = "check the connected app, its pre-authorized users, the login url and the key"
_SPENT_REFRESH_TOKEN = (
    "the refresh token is spent or revoked: with refresh token rotation every sign-in "
    "(doctor, fields and mapping add too) replaces it, and the new one is kept only in "
    "memory unless CRMSYNC_SALESFORCE_REFRESH_TOKEN_FILE names a file for it; set that "
    "and put a new refresh token in the file"
)


def make_auth(
    settings: SalesforceSettings,
    clock: Callable[[], float],
    token_cache: TokenCache | None = None,
) -> TokenAuth:
    """The auth object of ``settings.auth_flow``. Salesforce answers no ``expires_in``:
    a token is kept until a call answers 401 (fact sheet, section 1), and a new process
    uses one kept in ``token_cache`` for at most ``CRMSYNC_TOKEN_CACHE_SECONDS``."""
    token_url = f"{settings.login_url}/services/oauth2/token"
    client_id = settings.client_id or ""
    if settings.auth_flow == "jwt":
        key = settings.private_key if settings.private_key is not None else None
        path = settings.private_key_file
        assert key is not None or path is not None  # enforced by the settings validator
        return JwtBearer(
            token_url=token_url,
            issuer=client_id,
            subject=settings.username or "",
            audience=settings.audience(),
            private_key=key if key is not None else path,  # type: ignore[arg-type]
            lifetime=ASSERTION_LIFETIME,
            clock=clock,
            refused_hint=_REFUSED,
            token_cache=token_cache,
        )
    if settings.auth_flow == "client_credentials":
        assert settings.client_secret is not None  # enforced by the settings validator
        return ClientCredentials(
            token_url=token_url,
            client_id=client_id,
            client_secret=settings.client_secret,
            clock=clock,
            refused_hint=_REFUSED,
            token_cache=token_cache,
        )
    store = RefreshTokenStore(
        settings.refresh_token,
        path=settings.refresh_token_file,
        connector=CONNECTOR,
        file_setting="refresh_token_file",
    )
    return RefreshTokenGrant(
        token_url=token_url,
        client_id=client_id,
        store=store,
        client_secret=settings.client_secret,
        spent_hint=_SPENT_REFRESH_TOKEN,
        clock=clock,
        refused_hint=_REFUSED,
        token_cache=token_cache,
    )
