"""An emulated OAuth 2.0 token endpoint: clients, grants, token lifetime, rotation."""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

from crmsync.testing.emulator._base import json_response
from crmsync.testing.emulator._clock import EmulatorClock

__all__ = ["Grant", "OAuthClient", "OAuthTokenEndpoint"]

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class OAuthClient:
    """A registered client (an app): its secret, the public key its JWTs are signed
    with, the users it may act as (JWT bearer) and whether refresh tokens rotate."""

    client_id: str
    secret: str | None = None
    public_key: Any = None
    users: set[str] = field(default_factory=set)
    run_as: str | None = "integration@example.com"
    rotate_refresh_tokens: bool = False


@dataclass(frozen=True)
class Grant:
    """What an access token was issued for."""

    client_id: str
    subject: str
    expires_at: float | None
    scope: str | None = None


class OAuthTokenEndpoint:
    """The token endpoint of an emulated vendor.

    Grants: ``client_credentials`` (secret in the form or HTTP Basic, or a signed
    client assertion), ``refresh_token`` (rotating when the client says so) and the
    RFC 7523 JWT bearer grant. Access tokens live ``lifetime`` seconds by the
    emulator's clock (``None``: until :meth:`expire_all`), and answer ``expires_in``
    when they have one. ``answer_extra(request, client)`` adds vendor fields to a
    token answer (``instance_url``, ``api_domain``); a vendor whose answer differs
    more overrides :meth:`token_answer`, and its error codes with
    ``unknown_client_error`` and ``bad_secret_status``.
    """

    unknown_client_error = "invalid_client"
    bad_secret_status = 401

    def __init__(
        self,
        clock: EmulatorClock,
        *,
        lifetime: float | None = 3600.0,
        audiences: Iterable[str] = (),
        answer_extra: Callable[[httpx.Request, OAuthClient], Mapping[str, Any]]
        | None = None,
        token_prefix: str = "tok_",
    ) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.audiences = set(audiences)
        self.answer_extra = answer_extra
        self.token_prefix = token_prefix
        self.requests = 0
        self.clients: dict[str, OAuthClient] = {}
        self._refresh: dict[str, tuple[str, str]] = {}
        self._tokens: dict[str, Grant] = {}
        self._lock = threading.Lock()

    # -- configuration --------------------------------------------------------------
    def register_client(
        self,
        client_id: str,
        *,
        secret: str | None = None,
        public_key: str | bytes | None = None,
        users: Iterable[str] = ("integration@example.com",),
        run_as: str | None = "integration@example.com",
        rotate_refresh_tokens: bool = False,
    ) -> OAuthClient:
        """Register (or replace) a client; replacing it with a new secret is how a
        sandbox makes the vendor refuse a connection's credentials."""
        key = None
        if public_key is not None:
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            key = load_pem_public_key(
                public_key if isinstance(public_key, bytes) else public_key.encode()
            )
        client = OAuthClient(
            client_id, secret, key, set(users), run_as, rotate_refresh_tokens
        )
        with self._lock:
            self.clients[client_id] = client
        return client

    def issue_refresh_token(
        self, client_id: str, subject: str = "integration@example.com"
    ) -> str:
        """A refresh token, as an interactive consent flow would have handed out."""
        token = "rt_" + secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[token] = (client_id, subject)
        return token

    def expire_all(self) -> None:
        """Every access token expires now (the ``expired`` fault of every session)."""
        with self._lock:
            self._tokens.clear()

    def issued_tokens(self) -> list[str]:
        """The access tokens valid now (a test checks none is written in clear)."""
        with self._lock:
            return list(self._tokens)

    def revoke(self, access_token: str) -> None:
        with self._lock:
            self._tokens.pop(access_token, None)

    # -- data calls -----------------------------------------------------------------
    def validate(
        self, credential: str | None, *, scheme: str = "Bearer"
    ) -> Grant | None:
        """The grant of an ``Authorization`` header value (or a bare token), or
        ``None`` if it is unknown or expired."""
        if not credential:
            return None
        prefix = f"{scheme} "
        token = (
            credential[len(prefix) :] if credential.startswith(prefix) else credential
        )
        with self._lock:
            grant = self._tokens.get(token)
            if grant is None:
                return None
            if (
                grant.expires_at is not None
                and self.clock.timestamp() >= grant.expires_at
            ):
                del self._tokens[token]
                return None
            return grant

    # -- the endpoint ---------------------------------------------------------------
    def error(self, error: str, description: str, status: int = 400) -> httpx.Response:
        """An OAuth error answer (override for a vendor's own shape)."""
        return json_response(status, {"error": error, "error_description": description})

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one token request."""
        with self._lock:
            self.requests += 1
        if request.method != "POST":
            return self.error("invalid_request", "the token endpoint takes POST", 405)
        form = dict(
            parse_qsl(request.read().decode(errors="replace"), keep_blank_values=True)
        )
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            try:
                pair = base64.b64decode(basic[6:]).decode()
            except (ValueError, UnicodeDecodeError):
                return self.error("invalid_client", "malformed basic credentials", 401)
            client_id, _, secret = pair.partition(":")
            form.setdefault("client_id", client_id)
            form.setdefault("client_secret", secret)
        grant = form.get("grant_type")
        if grant == "client_credentials":
            return self._client_credentials(request, form)
        if grant == "refresh_token":
            return self._refresh_token(request, form)
        if grant == JWT_BEARER_GRANT:
            return self._jwt_bearer(request, form)
        return self.error("unsupported_grant_type", "grant type not supported")

    def _client_credentials(
        self, request: httpx.Request, form: dict[str, str]
    ) -> httpx.Response:
        client = self.clients.get(form.get("client_id", ""))
        if client is None:
            return self.error(self.unknown_client_error, "client identifier invalid")
        if form.get("client_assertion_type") == CLIENT_ASSERTION_TYPE:
            problem = self._verify(
                request,
                client,
                form.get("client_assertion", ""),
                subject=client.client_id,
            )
            if problem is not None:
                return self.error("invalid_client", problem)
        elif client.secret is None or form.get("client_secret") != client.secret:
            return self.error(
                "invalid_client", "invalid client credentials", self.bad_secret_status
            )
        if client.run_as is None:
            return self.error(
                "unauthorized_client", "client credentials are not enabled"
            )
        return self._issue(
            request, client, client.run_as, form.get("scope"), "client_credentials"
        )

    def _refresh_token(
        self, request: httpx.Request, form: dict[str, str]
    ) -> httpx.Response:
        client = self.clients.get(form.get("client_id", ""))
        if client is None:
            return self.error(self.unknown_client_error, "client identifier invalid")
        if "client_secret" in form and form["client_secret"] != client.secret:
            return self.error(
                "invalid_client", "invalid client credentials", self.bad_secret_status
            )
        used = form.get("refresh_token", "")
        with self._lock:
            known = self._refresh.get(used)
        if known is None or known[0] != client.client_id:
            return self.error("invalid_grant", "expired or revoked refresh token")
        response = self._issue(
            request, client, known[1], form.get("scope"), "refresh_token"
        )
        if client.rotate_refresh_tokens:
            with self._lock:
                self._refresh.pop(used, None)
            body = response.json()
            body["refresh_token"] = self.issue_refresh_token(client.client_id, known[1])
            response = json_response(200, body)
        return response

    def _jwt_bearer(
        self, request: httpx.Request, form: dict[str, str]
    ) -> httpx.Response:
        import jwt

        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return self.error("invalid_grant", "invalid assertion")
        client = self.clients.get(str(claims.get("iss")))
        if client is None:
            return self.error(self.unknown_client_error, "client identifier invalid")
        problem = self._verify(request, client, assertion)
        if problem is not None:
            return self.error("invalid_grant", problem)
        subject = str(claims.get("sub"))
        if subject not in client.users:
            return self.error("invalid_grant", "user hasn't approved this consumer")
        return self._issue(
            request, client, subject, form.get("scope"), JWT_BEARER_GRANT
        )

    def _verify(
        self,
        request: httpx.Request,
        client: OAuthClient,
        assertion: str,
        *,
        subject: str | None = None,
    ) -> str | None:
        """Why a JWT signed by ``client`` is refused, or ``None``. Its audience must be
        the token URL, the endpoint's origin, or one of ``audiences``."""
        import jwt

        origin = _origin(request.url)
        audiences = sorted(self.audiences | {origin, origin + request.url.path})
        issuer = client.client_id
        options: Any = {"require": ["exp", "iss", "sub", "aud"]}
        unsigned: Any = {**options, "verify_signature": False}
        try:
            if client.public_key is not None:
                claims = jwt.decode(
                    assertion,
                    client.public_key,
                    algorithms=["RS256", "PS256", "ES256"],
                    audience=audiences,
                    issuer=issuer,
                    options=options,
                )
            else:
                claims = jwt.decode(
                    assertion,
                    audience=audiences,
                    issuer=issuer,
                    options=unsigned,
                )
        except jwt.ExpiredSignatureError:
            return "the assertion expired"
        except jwt.InvalidAudienceError:
            return "audience is invalid"
        except jwt.PyJWTError:
            return "invalid assertion"
        if subject is not None and claims.get("sub") != subject:
            return "the assertion's subject is not the client"
        return None

    def _issue(
        self,
        request: httpx.Request,
        client: OAuthClient,
        subject: str,
        scope: str | None,
        grant: str,
    ) -> httpx.Response:
        token = self.token_prefix + secrets.token_urlsafe(32)
        expires_at = (
            None if self.lifetime is None else self.clock.timestamp() + self.lifetime
        )
        with self._lock:
            self._tokens[token] = Grant(client.client_id, subject, expires_at, scope)
        return json_response(
            200, self.token_answer(request, client, token, scope, grant)
        )

    def token_answer(
        self,
        request: httpx.Request,
        client: OAuthClient,
        token: str,
        scope: str | None,
        grant: str,
    ) -> dict[str, Any]:
        """The body of a successful token answer (override for a vendor's shape)."""
        answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.lifetime is not None:
            answer["expires_in"] = int(self.lifetime)
        if scope:
            answer["scope"] = scope
        if self.answer_extra is not None:
            answer.update(self.answer_extra(request, client))
        return answer


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode()}"
