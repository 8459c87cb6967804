"""Zoho's OAuth 2.0 refresh-token grant against the data centre's accounts server.

Zoho's token endpoint differs from plain OAuth in three ways (fact sheet section 1):
refusals come back as **HTTP 200** with ``{"error": "invalid_code" | "invalid_client"}``;
throttling (10 access tokens per 10 minutes per refresh token) is **HTTP 400**
``{"error": "Access Denied"}``, a rate limit rather than a refusal; and the answer's
``api_domain`` is the host for every CRM call. Data calls carry
``Authorization: Zoho-oauthtoken <token>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from crmsync.authoring import RefreshTokenGrant, Token, read_body
from crmsync.errors import AuthenticationFailed, PermanentError, RateLimited
from crmsync_zoho._settings import API_DOMAINS

__all__ = ["ZohoAuth", "exchange_grant_code"]

_HINTS = {
    "invalid_client": "check client_id and client_secret, and that data_centre is the one "
    "the org lives in (a client is known to its own data centre's accounts server only)",
    "invalid_code": "the refresh token is wrong or revoked: create a new grant code in the "
    "API console and exchange it (see the crmsync-zoho README)",
}


class ZohoAuth(RefreshTokenGrant):
    """The refresh-token grant with Zoho's answers and header."""

    def header_value(self, token: Token) -> str:
        return f"Zoho-oauthtoken {token.access_token}"

    def fetch_token(self) -> Token:
        response = self.http.token_request(self.token_url, self.form())
        body = read_body(response)
        _raise_for_answer(response, body, self.http.vendor, self.http.connector)
        if response.status_code != 200:
            self.raise_for_token_response(response)
        assert isinstance(body, dict)
        token = self.token_from_answer(_seconds(body))
        api_domain = token.extra.get("api_domain")
        if not isinstance(api_domain, str):
            raise AuthenticationFailed(
                "the Zoho token answer named no api_domain", connector=self.http.connector
            )
        host = httpx.URL(api_domain).host
        on_api_host = any(host == d or host.endswith("." + d) for d in API_DOMAINS)
        # A loopback api_domain is an emulator's, and only an emulator's accounts server
        # (itself on loopback) may name one.
        trusted = _loopback(self.token_url) if _loopback(api_domain) else on_api_host
        if not trusted:
            raise PermanentError(
                "Zoho handed back an api_domain that is not a Zoho API host "
                f"({', '.join(API_DOMAINS)}) for this accounts server",
                code="UNTRUSTED_URL",
                connector=self.http.connector,
            )
        return token

    @property
    def api_domain(self) -> str:
        """The API host of the current token (one is fetched if none is held)."""
        return str(self.ensure_token().extra["api_domain"])


def _loopback(url: str) -> bool:
    return httpx.URL(url).host in {"127.0.0.1", "localhost", "::1"}


def _seconds(body: Mapping[str, Any]) -> dict[str, Any]:
    """Legacy answers gave ``expires_in`` in milliseconds beside ``expires_in_sec``."""
    fixed = dict(body)
    if "expires_in_sec" in fixed:
        fixed["expires_in"] = fixed.pop("expires_in_sec")
    return fixed


def _raise_for_answer(response: httpx.Response, body: Any, vendor: str, connector: str
                      ) -> None:
    error = str(body.get("error") or "") if isinstance(body, dict) else ""
    if response.status_code == 400 and error == "Access Denied":
        raise RateLimited(
            f"{vendor} token endpoint is throttling this refresh token (Access Denied)",
            retry_after=None,
            connector=connector,
            hint="Zoho allows 10 access tokens per 10 minutes per refresh token",
        )
    if response.status_code == 200 and error:
        raise AuthenticationFailed(
            f"{vendor} refused the credentials: {error}",
            hint=_HINTS.get(error),
            connector=connector,
        )
    if response.status_code == 200 and not (
        isinstance(body, dict) and isinstance(body.get("access_token"), str)
    ):
        raise AuthenticationFailed(
            f"the {vendor} token endpoint answered 200 without an access_token",
            connector=connector,
        )


def exchange_grant_code(
    accounts_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    *,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """Exchange a self client's one-time grant code for the refresh token crmsync keeps
    (``python -m crmsync_zoho exchange``). Raises ``AuthenticationFailed`` if refused."""
    from crmsync_zoho._settings import GUARD

    GUARD.check(accounts_url, what="accounts_url")
    with httpx.Client(transport=transport, timeout=30.0) as client:
        try:
            response = client.post(
                accounts_url.rstrip("/") + "/oauth/v2/token",
                data={
                    "grant_type": "authorization_code",
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "code": code,
                },
            )
        except httpx.TransportError as error:
            raise AuthenticationFailed(
                f"Zoho accounts server unreachable: {type(error).__name__}", connector="zoho"
            ) from None
    body = read_body(response)
    _raise_for_answer(response, body, "Zoho CRM", "zoho")
    if response.status_code != 200 or not isinstance(body, dict):
        raise AuthenticationFailed(
            f"Zoho accounts server answered {response.status_code}", connector="zoho"
        )
    refresh = body.get("refresh_token")
    if not isinstance(refresh, str):
        raise AuthenticationFailed(
            "the grant code exchange returned no refresh_token", connector="zoho",
            hint="create the grant code with a self client (access is offline by default)",
        )
    return refresh
