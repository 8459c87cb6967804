"""``ConnectorHttp``: the HTTP session a connector owns, on httpx."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NoReturn
from urllib.parse import urljoin

import httpx

from crmsync.authoring._clock import ClockOffsetMeter
from crmsync.authoring._errors import ErrorMap
from crmsync.authoring._urls import UrlGuard
from crmsync.contract import ClockOffset
from crmsync.errors import (
    AuthenticationExpired,
    ConfigurationError,
    OutcomeUnknown,
    PermanentError,
    TransientError,
)

__all__ = ["ConnectorHttp"]

# Failures after the request left: the vendor may have carried it out (a call can run
# on server-side long after a client's read timeout).
_ANSWER_LOST = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)


class ConnectorHttp:
    """One connector's HTTP session: timeouts, connection limits, a user agent, every
    URL checked by ``url_guard`` before a credential goes to it, network failures and
    failed answers translated to crmsync errors once.

    ``request`` returns the response for a status below 400 (or one listed in
    ``accept``) and raises the ``error_map``'s error otherwise. A response the map
    makes :class:`~crmsync.errors.AuthenticationExpired` (a 401 by default) also makes
    the auth object forget the token that was sent.

    Every answer's ``Date`` header also measures the vendor's clock against ``clock``
    (epoch seconds, ``time.time`` by default; a test gives the emulator's): see
    :meth:`clock_offset`, which a connector's ``clock_offset`` hook returns.
    """

    def __init__(
        self,
        *,
        connector: str,
        error_map: ErrorMap,
        url_guard: UrlGuard,
        base_url: str | None = None,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_connections: int = 10,
        user_agent: str | None = None,
        request_id_headers: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        on_response: Callable[[httpx.Response], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.connector = connector
        self.error_map = error_map
        self.url_guard = url_guard
        self.auth = auth
        self.request_id_headers = tuple(
            request_id_headers
            if request_id_headers is not None
            else error_map.request_id_headers
        )
        self._on_response = on_response
        self._clock = clock or time.time
        self._clock_meter = ClockOffsetMeter()
        self._base_url: str | None = None
        if base_url is not None:
            self.base_url = base_url
        self._client = httpx.Client(
            transport=transport,
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
            ),
            headers={
                "Accept": "application/json",
                "User-Agent": user_agent or f"crmsync-{connector}",
                **(headers or {}),
            },
            follow_redirects=False,  # a redirect would carry the credentials elsewhere
        )
        attach = getattr(auth, "attach", None)
        if callable(attach):
            attach(self)

    def __repr__(self) -> str:
        return (
            f"ConnectorHttp(connector={self.connector!r}, base_url={self._base_url!r})"
        )

    @property
    def vendor(self) -> str:
        return self.error_map.vendor

    @property
    def base_url(self) -> str | None:
        """Where relative URLs point (an instance URL, say); guarded when set."""
        return self._base_url

    @base_url.setter
    def base_url(self, value: str | None) -> None:
        self._base_url = None if value is None else self.check_url(value).rstrip("/")

    def check_url(
        self, url: str, *, from_vendor: bool = False, what: str = "url"
    ) -> str:
        """``url`` if the guard allows it (see :meth:`UrlGuard.check`)."""
        try:
            return self.url_guard.check(url, from_vendor=from_vendor, what=what)
        except PermanentError as error:
            error.connector = self.connector
            raise

    def resolve(self, url: str, *, from_vendor: bool = True) -> str:
        """An absolute, guarded URL: relative ones join :attr:`base_url`."""
        if url.lower().startswith(("http://", "https://")):
            return self.check_url(url, from_vendor=from_vendor)
        if "//" in url.split("?", 1)[0] or url.startswith("\\"):
            raise PermanentError(
                "a relative URL must not name a host",
                code="UNTRUSTED_URL",
                connector=self.connector,
            )
        if self._base_url is None:
            raise ConfigurationError(
                f"{self.connector}: no base URL to resolve "
                f"{url.split('?', 1)[0]!r} against",
                hint="authenticate first, or pass base_url to ConnectorHttp",
            )
        joined = urljoin(self._base_url + "/", url.lstrip("/"))
        return self.check_url(joined, from_vendor=from_vendor)

    def request_id(self, response: httpx.Response) -> str | None:
        """The vendor's request id of ``response``, if it sent one."""
        for name in self.request_id_headers:
            value = response.headers.get(name)
            if value:
                return str(value)
        return None

    def request(
        self,
        method: str,
        url: str,
        *,
        object_name: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        write: bool = False,
        idempotent: bool = True,
        accept: Collection[int] = (),
        authenticated: bool = True,
    ) -> httpx.Response:
        """Send one request and return its response, or raise the crmsync error.

        ``write=True`` with ``idempotent=False`` (a create) turns an answer lost after
        the request left into :class:`~crmsync.errors.OutcomeUnknown`; every other
        network failure is a :class:`~crmsync.errors.TransientError`.
        """
        target = self.resolve(url)
        sent = self._clock()
        try:
            response = self._client.request(
                method,
                target,
                params=params,
                json=json,
                content=content,
                data=data,
                headers=headers,
                auth=self.auth if authenticated else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as error:
            self._raise_transport(
                error,
                object_name=object_name,
                repeatable=not (write and not idempotent),
            )
        self._clock_meter.observe(response.headers, sent=sent, received=self._clock())
        if self._on_response is not None:
            self._on_response(response)
        if response.status_code >= 400 and response.status_code not in accept:
            self.raise_for(response, object_name=object_name)
        return response

    def clock_offset(self) -> ClockOffset | None:
        """The vendor's clock minus ``clock``, measured from the ``Date`` headers of
        this session's answers (``None`` before one carried a date). The uncertainty is
        half the tightest bound the answers give: half a round trip plus half the
        header's one-second resolution at worst, less as answers accumulate.

        Only :meth:`request`'s answers count: a token endpoint is often another host,
        whose clock is not the one that stamps records. Makes no call.
        """
        return self._clock_meter.offset()

    def raise_for(
        self, response: httpx.Response, *, object_name: str | None = None
    ) -> NoReturn:
        """Raise the error map's error for ``response`` (dropping an expired token)."""
        error = self.error_map.error_for(
            response,
            object_name=object_name,
            connector=self.connector,
            request_id=self.request_id(response),
        )
        if isinstance(error, AuthenticationExpired):
            forget = getattr(self.auth, "invalidate_request", None)
            if callable(forget):
                forget(response.request)
        raise error

    def token_request(
        self,
        url: str,
        form: Mapping[str, str],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST a token request's form to ``url`` (a settings URL: guarded as one);
        the response is returned whatever its status."""
        target = self.check_url(url, what="token url")
        try:
            return self._client.post(
                target,
                data=dict(form),
                headers={"Accept": "application/json", **(headers or {})},
            )
        except httpx.TransportError as error:
            self._raise_transport(error, what="token request")

    def json(self, response: httpx.Response, *, object_name: str | None = None) -> Any:
        """The JSON body of ``response``, or a ``PermanentError`` (``BAD_RESPONSE``)."""
        try:
            return response.json()
        except ValueError:
            raise PermanentError(
                f"{self.vendor} answered a body that is not JSON",
                code="BAD_RESPONSE",
                connector=self.connector,
                object_name=object_name,
                request_id=self.request_id(response),
            ) from None

    def _raise_transport(
        self,
        error: httpx.TransportError,
        *,
        object_name: str | None = None,
        what: str = "call",
        repeatable: bool = True,
    ) -> NoReturn:
        kind = type(error).__name__
        if not repeatable and isinstance(error, _ANSWER_LOST):
            raise OutcomeUnknown(
                f"{self.vendor} {what} was sent but its answer was lost: {kind}",
                hint="the records may exist; the next cycle finds them by match key",
                connector=self.connector,
                object_name=object_name,
            ) from None
        raise TransientError(
            f"{self.vendor} {what} failed in transit: {kind}",
            connector=self.connector,
            object_name=object_name,
        ) from None

    def close(self) -> None:
        self._client.close()
