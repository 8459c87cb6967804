"""The connector authoring kit: what every CRM connector shares at run time.

A connector imports :mod:`crmsync.contract`, :mod:`crmsync.errors` and this module,
nothing else of the framework::

    from crmsync.authoring import ConnectorHttp, ErrorMap, ErrorRule, UrlGuard, ...

* :class:`ConnectorHttp`: the HTTP session (httpx) with timeouts, limits, user agent,
  URL guard, request ids, network failures and error answers translated once, and
  the vendor's clock offset measured from its ``Date`` headers (``clock_offset()``).
* :class:`ErrorMap` / :class:`ErrorRule`: status and vendor code -> crmsync error;
  :func:`parse_retry_after` reads both forms of ``Retry-After``.
* Auth objects (``httpx.Auth``): :class:`ClientCredentials`, :class:`ClientAssertion`,
  :class:`JwtBearer`, :class:`RefreshTokenGrant` (with :class:`RefreshTokenStore`),
  all on :class:`TokenAuth`; :class:`HeaderKeys` for static header credentials.
* :class:`UrlGuard`: https on the vendor's domains, loopback for emulators only.
* :class:`MonotonicCursor`, :func:`keyset_after`, :func:`past_cursor` (keyset reads),
  :func:`checked_page_token` (next-page links), :func:`results_in_order`.
* :class:`SecretFileSettings`, :func:`vendor_url`: settings helpers.
* :class:`MetadataCache`: vendor metadata (an object's describe) kept across
  processes; the framework hands one to a connector that takes ``metadata_cache``.
* :class:`TokenCache`: access tokens kept across processes, encrypted under the
  credential that gets them; the framework hands one to a connector that takes
  ``token_cache``, which passes it to its auth object (``token_cache=``).
"""

from __future__ import annotations

from crmsync.authoring._auth import (
    ClientAssertion,
    ClientCredentials,
    HeaderKeys,
    JwtBearer,
    RefreshTokenGrant,
    Token,
    TokenAuth,
)
from crmsync.authoring._errors import ErrorMap, ErrorRule, parse_retry_after, read_body
from crmsync.authoring._feeds import (
    MonotonicCursor,
    checked_page_token,
    keyset_after,
    past_cursor,
    results_in_order,
)
from crmsync.authoring._http import ConnectorHttp
from crmsync.authoring._metadata import MetadataCache, settings_fingerprint
from crmsync.authoring._refresh import RefreshTokenStore, write_secret_file
from crmsync.authoring._settings import SecretFileSettings, vendor_url
from crmsync.authoring._tokencache import CachedToken, TokenCache
from crmsync.authoring._urls import UrlGuard
from crmsync.authoring._values import FieldProblem, check_value

__all__ = [
    "CachedToken",
    "ClientAssertion",
    "ClientCredentials",
    "ConnectorHttp",
    "ErrorMap",
    "ErrorRule",
    "FieldProblem",
    "HeaderKeys",
    "JwtBearer",
    "MetadataCache",
    "MonotonicCursor",
    "RefreshTokenGrant",
    "RefreshTokenStore",
    "SecretFileSettings",
    "Token",
    "TokenAuth",
    "TokenCache",
    "UrlGuard",
    "check_value",
    "checked_page_token",
    "keyset_after",
    "parse_retry_after",
    "past_cursor",
    "read_body",
    "results_in_order",
    "settings_fingerprint",
    "vendor_url",
    "write_secret_file",
]
