"""Credentials as ``httpx.Auth`` objects a connector picks and configures.

Written on ``httpx.Auth`` and PyJWT rather than authlib or httpx-auth: the flows are a
form post each, while what a connector needs around them is crmsync's own (errors
translated to the framework's types with no secret in them, renew-once-per-expiry
across threads, vendor-handed URLs checked by the :class:`UrlGuard`, rotated refresh
tokens written back), which those libraries would have to be wrapped to provide.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import SecretStr

from crmsync.authoring._errors import parse_retry_after, read_body
from crmsync.authoring._refresh import RefreshTokenStore
from crmsync.authoring._tokencache import TokenCache
from crmsync.errors import (
    AuthenticationFailed,
    ConfigurationError,
    RateLimited,
    TransientError,
)

if TYPE_CHECKING:
    from crmsync.authoring._http import ConnectorHttp

__all__ = [
    "ClientAssertion",
    "ClientCredentials",
    "HeaderKeys",
    "JwtBearer",
    "RefreshTokenGrant",
    "Token",
    "TokenAuth",
]

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
Secret = SecretStr | str


def _reveal(value: Secret) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


@dataclass(frozen=True)
class Token:
    """An access token (never in the repr), when it expires (seconds by the auth's
    clock, ``None``: until the vendor says it expired), and what else the token answer
    carried (``instance_url``, ``api_domain``, ``scope`` ...), URLs already checked."""

    access_token: str = field(repr=False)
    expires_at: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    generation: int = 0
    token_type: str = "Bearer"


class TokenAuth(httpx.Auth):
    """Base of the token grants: caches the token, renews it shortly before
    ``expires_in`` runs out, and renews once per expiry across threads.

    Subclasses implement :meth:`form` (the grant's form fields) or override
    :meth:`fetch_token` entirely; :meth:`header_value` says how the token is sent
    (``Bearer <token>`` by default; Zoho's is ``Zoho-oauthtoken <token>``).

    The object is bound to the :class:`ConnectorHttp` it is given to, and posts to
    ``token_url`` through it (guarded, transport failures translated). A 401 on a data
    call (or any error the connector's map makes ``AuthenticationExpired``) drops the
    token that was sent; the framework then calls the connector's ``authenticate()``,
    which calls ``ensure_token(force=True)``.

    With a ``token_cache`` (the framework's, handed to a connector that takes
    ``token_cache``), a process that holds no token yet uses one an earlier process
    kept, encrypted under :meth:`cache_credential`, and keeps each token it gets; a
    kept token the vendor refuses is dropped from the cache and renewed once.
    """

    requires_request_body = False
    requires_response_body = False
    header_name = "Authorization"
    #: The grant's name in the token cache (one file per connection and grant).
    grant = "token"

    def __init__(
        self,
        *,
        token_url: str,
        clock: Callable[[], float] = time.time,
        leeway: float = 60.0,
        refused_hint: str | None = None,
        token_cache: TokenCache | None = None,
    ) -> None:
        self.token_url = token_url
        self.token_cache = token_cache
        self._clock = clock
        self._leeway = leeway
        self._refused_hint = refused_hint
        self._http: ConnectorHttp | None = None
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._renew_at: float | None = None
        self._generation = 0
        self._invalidated = -1  # generation of the last token dropped as expired
        self._refused: set[str] = set()  # digests of the tokens the vendor refused

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token_url={self.token_url!r})"

    # -- binding -----------------------------------------------------------------
    def attach(self, http: ConnectorHttp) -> None:
        """Bind to the session whose guard, transport and errors token requests use."""
        self._http = http

    def _connector_name(self) -> str | None:
        return self._http.connector if self._http is not None else None

    @property
    def http(self) -> ConnectorHttp:
        if self._http is None:
            raise ConfigurationError(
                f"{type(self).__name__} is not attached to a ConnectorHttp",
                hint="pass it as ConnectorHttp(auth=...)",
            )
        return self._http

    # -- the token ---------------------------------------------------------------
    @property
    def token(self) -> Token | None:
        """The cached token, if any (expired or not)."""
        with self._lock:
            return self._token

    def ensure_token(self, *, force: bool = False) -> Token:
        """A valid token: the cached one, or a new one from the token endpoint.

        ``force=True`` renews even a token that has not expired by time, unless
        another thread already renewed it after the last expiry the vendor signalled
        (so that many workers hitting one expiry cause one token request).
        """
        with self._lock:
            current = self._token
            if current is not None:
                renewed_since = (
                    self._invalidated >= 0 and current.generation > self._invalidated
                )
                fresh = self._renew_at is None or self._clock() < self._renew_at
                if (force and renewed_since) or (not force and fresh):
                    return current
            else:
                # Nothing held yet (a new process) or the held one was refused: a token
                # an earlier process kept saves a token request.
                kept = self._from_cache()
                if kept is not None:
                    return kept
            self._generation += 1
            token = self.fetch_token()
            token = self._hold(token)
            self._to_cache(token)
            return token

    def _hold(self, token: Token) -> Token:
        """Make ``token`` the held one, with the next generation's number."""
        token = Token(
            token.access_token,
            token.expires_at,
            token.extra,
            self._generation,
            token.token_type,
        )
        self._token = token
        self._renew_at = self._renewal(token)
        return token

    def _renewal(self, token: Token) -> float | None:
        if token.expires_at is None:
            return None
        lifetime = max(0.0, token.expires_at - self._clock())
        return token.expires_at - min(self._leeway, lifetime / 2)

    # -- the cache across processes ----------------------------------------------
    def cache_credential(self) -> Sequence[str]:
        """The values this grant sends to get a token, its secret first, from which
        the token cache derives its key (subclasses). Empty, or an empty secret: tokens
        are never cached (a key from public values alone would protect nothing)."""
        return ()

    def _cache_key_material(self) -> Sequence[str]:
        if self.token_cache is None or not self.token_cache.enabled:
            return ()
        try:
            credential = tuple(self.cache_credential())
        except (AuthenticationFailed, OSError):
            return ()  # the token request will say what is wrong with the credential
        return credential if credential and credential[0] else ()

    def _from_cache(self) -> Token | None:
        credential = self._cache_key_material()
        if not credential:
            return None
        assert self.token_cache is not None
        kept = self.token_cache.load(self.grant, credential)
        if kept is None or _digest(kept.access_token) in self._refused:
            return None
        expires_at = (
            None if kept.expires_in is None else self._clock() + kept.expires_in
        )
        self._generation += 1
        return self._hold(
            Token(kept.access_token, expires_at, kept.extra, 0, kept.token_type)
        )

    def _to_cache(self, token: Token) -> None:
        credential = self._cache_key_material()
        if not credential:
            return
        assert self.token_cache is not None
        now = self._clock()
        # The renewal point goes with it, so that a later process renews when this one
        # would have, not a 401 later.
        self.token_cache.save(
            self.grant,
            credential,
            access_token=token.access_token,
            token_type=token.token_type,
            extra=token.extra,
            expires_in=None
            if token.expires_at is None
            else max(0.0, token.expires_at - now),
            renew_in=None if self._renew_at is None else max(0.0, self._renew_at - now),
        )

    def invalidate(self, token: Token | None = None) -> None:
        """Forget ``token`` (default: the cached one); the vendor said it expired."""
        with self._lock:
            current = self._token
            if current is None or (
                token is not None and token.generation != current.generation
            ):
                return
            self._invalidated = max(self._invalidated, current.generation)
            self._token = None
            self._refused.add(_digest(current.access_token))
            if self.token_cache is not None:
                self.token_cache.drop(self.grant)

    def invalidate_request(self, request: httpx.Request) -> None:
        """Forget the token ``request`` carried, if it is still the cached one."""
        sent = request.headers.get(self.header_name)
        with self._lock:
            current = self._token
        if current is not None and sent == self.header_value(current):
            self.invalidate(current)

    def header_value(self, token: Token) -> str:
        """The header that carries ``token`` on a data call."""
        return f"Bearer {token.access_token}"

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self.header_name] = self.header_value(self.ensure_token())
        yield request

    # -- the grant ---------------------------------------------------------------
    def form(self) -> dict[str, str]:
        """The token request's form fields (subclasses)."""
        raise NotImplementedError

    def request_headers(self) -> dict[str, str]:
        """Extra headers of the token request (HTTP Basic client auth, say)."""
        return {}

    def fetch_token(self) -> Token:
        """Ask the token endpoint for a new token (no retries: the framework's job)."""
        response = self.http.token_request(
            self.token_url, self.form(), headers=self.request_headers()
        )
        if response.status_code != 200:
            self.raise_for_token_response(response)
        body = read_body(response)
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise AuthenticationFailed(
                f"the {self.http.vendor} token endpoint answered 200 without an "
                "access_token",
                connector=self.http.connector,
            )
        return self.token_from_answer(body)

    def token_from_answer(self, body: Mapping[str, Any]) -> Token:
        """A :class:`Token` from a 200 answer; every URL in it checked by the guard."""
        expires_at: float | None = None
        try:
            expires_in = float(body["expires_in"]) if "expires_in" in body else None
        except (TypeError, ValueError):
            expires_in = None
        if expires_in is not None and expires_in > 0:
            expires_at = self._clock() + expires_in
        extra: dict[str, Any] = {}
        for key, value in body.items():
            if key in {"access_token", "refresh_token", "expires_in", "id_token"}:
                continue
            if isinstance(value, str) and value.lower().startswith(
                ("http://", "https://")
            ):
                value = self.http.check_url(value, from_vendor=True, what=key).rstrip(
                    "/"
                )
            extra[key] = value
        return Token(
            str(body["access_token"]),
            expires_at,
            extra,
            token_type=str(body.get("token_type") or "Bearer"),
        )

    def raise_for_token_response(self, response: httpx.Response) -> None:
        """A failed token request as a crmsync error: 429 rate limited, 5xx transient,
        every other refusal ``AuthenticationFailed`` (never retried)."""
        http = self.http
        status = response.status_code
        context: dict[str, Any] = {
            "connector": http.connector,
            "request_id": http.request_id(response),
        }
        if status == 429:
            raise RateLimited(
                f"the {http.vendor} token endpoint is rate limiting",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                **context,
            )
        if status >= 500 or status == 408:
            raise TransientError(
                f"the {http.vendor} token endpoint answered {status}", **context
            )
        body = read_body(response)
        error = description = ""
        if isinstance(body, dict):
            error = str(body.get("error") or body.get("errorCode") or "")
            description = str(
                body.get("error_description") or body.get("message") or ""
            )
        error = error or f"HTTP_{status}"
        raise AuthenticationFailed(
            " ".join(
                f"{http.vendor} refused the credentials: {error}: {description}".split()
            ).rstrip(": ")[:500],
            hint=self.refused_hint(error),
            **context,
        )

    def refused_hint(self, error: str) -> str | None:
        """The hint of an ``AuthenticationFailed`` for the OAuth ``error`` code."""
        return self._refused_hint


def _digest(access_token: str) -> str:
    """A refused token remembered without keeping the token itself."""
    return hashlib.sha256(access_token.encode()).hexdigest()


class ClientCredentials(TokenAuth):
    """OAuth 2.0 ``client_credentials`` with a client secret, sent in the form
    (``client_auth="body"``) or as HTTP Basic (``"basic"``)."""

    grant = "client_credentials"

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        scope: str | None = None,
        client_auth: Literal["body", "basic"] = "body",
        extra_form: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(token_url=token_url, **options)
        self.client_id = client_id
        self._secret = SecretStr(_reveal(client_secret))
        self.scope = scope
        self.client_auth = client_auth
        self.extra_form = dict(extra_form or {})

    def form(self) -> dict[str, str]:
        form = {"grant_type": "client_credentials", **self.extra_form}
        if self.client_auth == "body":
            form["client_id"] = self.client_id
            form["client_secret"] = self._secret.get_secret_value()
        if self.scope:
            form["scope"] = self.scope
        return form

    def request_headers(self) -> dict[str, str]:
        if self.client_auth != "basic":
            return {}
        pair = f"{self.client_id}:{self._secret.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    def cache_credential(self) -> Sequence[str]:
        return (self._secret.get_secret_value(), self.client_id, self.scope or "")


class _Signer:
    """A private key (PEM text, a secret, or a file read at signing time) and how to
    sign a JWT with it; failures are ``AuthenticationFailed`` without the key."""

    def __init__(
        self, key: Secret | Path, algorithm: str, connector: Callable[[], str | None]
    ):
        self._key = key if isinstance(key, Path) else SecretStr(_reveal(key))
        self.algorithm = algorithm
        self._connector = connector

    def pem(self) -> str:
        """The private key's PEM text (``AuthenticationFailed`` if unreadable)."""
        return self._pem()

    def _pem(self) -> str:
        if isinstance(self._key, Path):
            try:
                return self._key.read_text()
            except OSError as error:
                raise AuthenticationFailed(
                    f"cannot read the private key file {self._key}: {error.strerror}",
                    connector=self._connector(),
                ) from None
        return self._key.get_secret_value()

    def sign(
        self, claims: Mapping[str, Any], headers: Mapping[str, Any] | None = None
    ) -> str:
        import jwt  # PyJWT[crypto]: only the grants that sign need it

        try:
            return jwt.encode(
                dict(claims),
                self._pem(),
                algorithm=self.algorithm,
                headers=dict(headers or {}),
            )
        except (ValueError, TypeError, jwt.PyJWTError):
            family = (
                "RSA" if self.algorithm.startswith(("RS", "PS")) else self.algorithm
            )
            raise AuthenticationFailed(
                f"the private key is not a usable PEM {family} key",
                connector=self._connector(),
            ) from None


class JwtBearer(TokenAuth):
    """The RFC 7523 JWT bearer grant (Salesforce's server-to-server flow): a JWT with
    ``iss``, ``sub``, ``aud`` and a short ``exp``, signed with the app's private key."""

    grant = "jwt_bearer"

    def __init__(
        self,
        *,
        token_url: str,
        issuer: str,
        subject: str,
        audience: str,
        private_key: Secret | Path,
        algorithm: str = "RS256",
        lifetime: int = 180,
        scope: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(token_url=token_url, **options)
        self.issuer = issuer
        self.subject = subject
        self.audience = audience
        self.lifetime = lifetime
        self.scope = scope
        self._signer = _Signer(private_key, algorithm, self._connector_name)

    def form(self) -> dict[str, str]:
        claims = {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.audience,
            "exp": int(self._clock()) + self.lifetime,
        }
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": self._signer.sign(claims)}
        if self.scope:
            form["scope"] = self.scope
        return form

    def cache_credential(self) -> Sequence[str]:
        return (self._signer.pem(), self.issuer, self.subject, self.audience)


class ClientAssertion(TokenAuth):
    """OAuth 2.0 ``client_credentials`` authenticated by a signed JWT client assertion
    (RFC 7523 section 2.2; Microsoft Entra ID's certificate credentials).

    ``certificate`` (PEM) or ``thumbprint`` (hex SHA-1) puts the certificate's
    ``x5t`` in the JWT header, which Entra ID needs to find the key.
    """

    grant = "client_assertion"

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        private_key: Secret | Path,
        certificate: str | None = None,
        thumbprint: str | None = None,
        audience: str | None = None,
        scope: str | None = None,
        algorithm: str = "RS256",
        lifetime: int = 300,
        **options: Any,
    ) -> None:
        super().__init__(token_url=token_url, **options)
        self.client_id = client_id
        self.audience = audience or token_url
        self.scope = scope
        self.lifetime = lifetime
        self._x5t = _x5t(certificate, thumbprint)
        self._signer = _Signer(private_key, algorithm, self._connector_name)

    def form(self) -> dict[str, str]:
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.audience,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
        }
        headers = {"x5t": self._x5t} if self._x5t else None
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self._signer.sign(claims, headers),
        }
        if self.scope:
            form["scope"] = self.scope
        return form

    def cache_credential(self) -> Sequence[str]:
        return (self._signer.pem(), self.client_id, self.scope or "")


def _x5t(certificate: str | None, thumbprint: str | None) -> str | None:
    if thumbprint:
        try:
            digest = bytes.fromhex(thumbprint.replace(":", ""))
        except ValueError:
            raise ConfigurationError("the certificate thumbprint must be hex") from None
    elif certificate:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        try:
            cert = x509.load_pem_x509_certificate(certificate.encode())
        except ValueError:
            raise ConfigurationError(
                "the certificate is not a PEM X.509 certificate"
            ) from None
        digest = cert.fingerprint(hashes.SHA1())
    else:
        return None
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class RefreshTokenGrant(TokenAuth):
    """The ``refresh_token`` grant; a rotated refresh token in the answer goes to
    ``store`` (written back to its file).

    Its token cache key comes from the refresh token held *after* the answer (the
    rotated one, when the app rotates): a process that reads the rotated token from
    ``REFRESH_TOKEN_FILE`` can use the access token kept with it, while one still
    holding a spent token gets a miss and the vendor's refusal, as without a cache."""

    grant = "refresh_token"

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        store: RefreshTokenStore,
        client_secret: Secret | None = None,
        scope: str | None = None,
        spent_hint: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(token_url=token_url, **options)
        self.client_id = client_id
        self.store = store
        self._secret = (
            None if client_secret is None else SecretStr(_reveal(client_secret))
        )
        self.scope = scope
        self._spent_hint = spent_hint

    def form(self) -> dict[str, str]:
        form = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "refresh_token": self.store.current(),
        }
        if self._secret is not None:
            form["client_secret"] = self._secret.get_secret_value()
        if self.scope:
            form["scope"] = self.scope
        return form

    def token_from_answer(self, body: Mapping[str, Any]) -> Token:
        token = super().token_from_answer(body)
        rotated = body.get("refresh_token")
        if isinstance(rotated, str):
            self.store.rotated(rotated)
        return token

    def cache_credential(self) -> Sequence[str]:
        secret = "" if self._secret is None else self._secret.get_secret_value()
        return (self.store.current(), secret, self.client_id, self.scope or "")

    def refused_hint(self, error: str) -> str | None:
        if error == "invalid_grant" and self._spent_hint:
            return self._spent_hint
        return super().refused_hint(error)


class HeaderKeys(httpx.Auth):
    """Static credentials sent as headers on every call (Autotask's ``UserName``,
    ``Secret`` and ``ApiIntegrationCode``). The values never appear in a repr."""

    requires_request_body = False
    requires_response_body = False

    def __init__(self, headers: Mapping[str, Secret]) -> None:
        if not headers:
            raise ValueError("HeaderKeys needs at least one header")
        self._headers = {
            name: SecretStr(_reveal(value)) for name, value in headers.items()
        }

    def __repr__(self) -> str:
        return f"HeaderKeys({sorted(self._headers)!r})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._headers)

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        for name, value in self._headers.items():
            request.headers[name] = value.get_secret_value()
        yield request

    def invalidate_request(self, request: httpx.Request) -> None:
        """Nothing to forget: static keys do not expire."""

    def secret_values(self) -> tuple[str, ...]:
        """The header values, for redaction by tests and logs."""
        return tuple(value.get_secret_value() for value in self._headers.values())
