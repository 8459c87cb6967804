"""The emulated Microsoft Entra ID v2.0 token endpoint (client credentials).

``POST /{tenant}/oauth2/v2.0/token`` with ``grant_type=client_credentials``,
``client_id``, ``scope=<org>/.default`` and either ``client_secret`` (form or HTTP
Basic) or a signed JWT ``client_assertion`` whose ``x5t`` names the registered
certificate (fact sheet section 1 and 10.1).
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["EntraTokenEndpoint", "TokenRefusal"]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class TokenRefusal(Exception):
    """An Entra ID error answer: status and the standard error body."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.code = code
        self.description = description

    def body(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.description}",
            "error_codes": [self.code],
            "timestamp": now.strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        }


@dataclass
class _App:
    client_id: str
    secret: str | None
    certificate: Any  # cryptography x509.Certificate or None
    thumbprint: str | None
    application_user: bool


@dataclass
class _Issued:
    client_id: str
    expires_at: dt.datetime


class EntraTokenEndpoint:
    """Registered apps, issued tokens and their lifetime."""

    def __init__(self, tenant: str, clock: Callable[[], dt.datetime]) -> None:
        self.tenant = tenant
        self.clock = clock
        self.lifetime = 3599
        self._lock = threading.Lock()
        self._apps: dict[str, _App] = {}
        self._tokens: dict[str, _Issued] = {}
        self.issued = 0

    def register(
        self,
        client_id: str,
        *,
        client_secret: str | None = None,
        certificate_pem: str | None = None,
        application_user: bool = True,
    ) -> None:
        certificate = thumbprint = None
        if certificate_pem is not None:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes

            certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
            digest = certificate.fingerprint(hashes.SHA1())
            thumbprint = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        with self._lock:
            self._apps[client_id] = _App(
                client_id, client_secret, certificate, thumbprint, application_user
            )

    def expire_all(self) -> None:
        with self._lock:
            self._tokens.clear()

    def check(self, token: str) -> _Issued | None:
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None or issued.expires_at <= self.clock():
            return None
        return issued

    def has_application_user(self, client_id: str) -> bool:
        app = self._apps.get(client_id)
        return app is not None and app.application_user

    def issue(
        self, *, tenant: str, form_body: str, basic: str | None, token_url: str, resource: str
    ) -> dict[str, Any]:
        """Answer one token request, or raise :class:`TokenRefusal`."""
        if tenant != self.tenant:
            raise TokenRefusal(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        form = dict(parse_qsl(form_body, keep_blank_values=True))
        if form.get("grant_type") != "client_credentials":
            raise TokenRefusal(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            )
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if basic is not None:
            try:
                pair = base64.b64decode(basic).decode()
            except ValueError:
                pair = ":"
            client_id, _, secret = pair.partition(":")
        app = self._apps.get(client_id or "")
        if app is None:
            raise TokenRefusal(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory.",
            )
        scope = form.get("scope")
        if not scope:
            raise TokenRefusal(
                400,
                "invalid_request",
                90014,
                "The required field 'scope' is missing from the credential.",
            )
        wanted = {f"{resource}/.default", f"{resource}//.default"}
        if scope not in wanted:
            raise TokenRefusal(
                400,
                "invalid_scope",
                70011,
                f"The provided value for the input parameter 'scope' is not valid. "
                f"The scope {scope} is not valid.",
            )
        if form.get("client_assertion_type") is not None or "client_assertion" in form:
            self._check_assertion(app, form, token_url)
        elif secret is None:
            raise TokenRefusal(
                401,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the "
                "'client_credentials' grant type.",
            )
        elif app.secret is None or not secrets.compare_digest(secret, app.secret):
            raise TokenRefusal(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the "
                f"request is the client secret value, not the client secret ID, for a "
                f"secret added to app '{app.client_id}'.",
            )
        token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = _Issued(
                app.client_id, self.clock() + dt.timedelta(seconds=self.lifetime)
            )
            self.issued += 1
        return {
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "ext_expires_in": self.lifetime,
            "access_token": token,
        }

    def _check_assertion(self, app: _App, form: dict[str, str], token_url: str) -> None:
        import jwt

        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise TokenRefusal(
                400,
                "invalid_request",
                50027,
                "Invalid client_assertion_type.",
            )
        assertion = form.get("client_assertion", "")
        if app.certificate is None:
            raise TokenRefusal(
                401,
                "invalid_client",
                700027,
                "Client assertion contains an invalid signature. "
                "No certificate is registered for the app.",
            )
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise TokenRefusal(
                400, "invalid_request", 50027, "JWT token is invalid or malformed."
            ) from None
        if header.get("x5t") != app.thumbprint:
            raise TokenRefusal(
                401,
                "invalid_client",
                700027,
                "Client assertion failed signature validation. The key was not found "
                "(x5t does not name a registered certificate).",
            )
        try:
            claims = jwt.decode(
                assertion,
                app.certificate.public_key(),
                algorithms=["RS256", "PS256"],
                audience=token_url,
                # Times are checked against the emulator's clock below, not the wall's.
                options={
                    "require": ["exp", "aud", "iss", "sub"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError:
            raise TokenRefusal(
                400,
                "invalid_client",
                700212,
                f"No matching federated identity record found for presented assertion "
                f"audience '{token_url}'.",
            ) from None
        except jwt.PyJWTError as error:
            raise TokenRefusal(
                401,
                "invalid_client",
                700027,
                f"Client assertion failed signature validation: {type(error).__name__}.",
            ) from None
        now = self.clock().timestamp()
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now - 300:
            raise TokenRefusal(
                400,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            )
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            raise TokenRefusal(
                401,
                "invalid_client",
                700023,
                "Client assertion issuer and subject must be the client id.",
            )
