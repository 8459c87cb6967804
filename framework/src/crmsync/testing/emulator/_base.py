"""``EmulatorBase``: routes, one clock, one fault queue, one request log, ``handle``."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

import httpx

from crmsync.testing.emulator._clock import EmulatorClock
from crmsync.testing.emulator._faults import ArmedFault, FaultQueue
from crmsync.testing.emulator._log import RequestLog

__all__ = ["EmulatorBase", "json_response", "route"]

Handler = Callable[..., httpx.Response]
H = TypeVar("H", bound=Handler)
FaultPolicy = Literal["any", "explicit", "never"]
_ROUTE = "__crmsync_route__"


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    faults: FaultPolicy
    write: bool | None
    public: bool
    name: str


@dataclass(frozen=True)
class _Found:
    """The route a request matched (``None``: no route; ``other_method``: the path
    exists for other methods, a 405)."""

    route: _Route | None
    groups: dict[str, str]
    other_method: bool


def route(
    method: str,
    pattern: str,
    *,
    faults: FaultPolicy = "any",
    write: bool | None = None,
    public: bool = False,
) -> Callable[[H], H]:
    """Declare an :class:`EmulatorBase` method as the handler of ``method`` on paths
    that fully match ``pattern``; named groups become keyword arguments::

        @route("GET", r"/crm/v6/(?P<module>\\w+)")
        def list_records(self, request, module): ...

    ``faults``: ``"any"`` (armed faults hit it), ``"explicit"`` (only faults whose
    ``path_contains`` names it: token endpoints), ``"never"``. ``write`` says whether
    the route writes (default: every method but GET and HEAD), for ``after_commit``
    faults and write-only faults. Unless ``public`` (a token endpoint), a request is
    first given to :meth:`EmulatorBase.authorize`.
    """

    def mark(handler: H) -> H:
        setattr(
            handler,
            _ROUTE,
            _Route(
                method.upper(),
                re.compile(pattern),
                faults,
                write,
                public,
                handler.__name__,
            ),
        )
        return handler

    return mark


def json_response(
    status: int, body: Any = None, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """An ``httpx.Response`` with a JSON body (none when ``body`` is ``None``)."""
    all_headers = dict(headers or {})
    if body is None:
        return httpx.Response(status, headers=all_headers)
    all_headers.setdefault("Content-Type", "application/json; charset=utf-8")
    return httpx.Response(
        status, headers=all_headers, content=json.dumps(body).encode()
    )


class _LostAnswer(Exception):
    def __init__(self, fault: ArmedFault) -> None:
        super().__init__(fault.name)
        self.fault = fault


class EmulatorBase:
    """Base of a vendor emulator.

    A subclass declares routes with :func:`route` and says how its vendor renders the
    contract kit's faults (:meth:`rate_limit_response`, :meth:`transient_response`,
    :meth:`expired_response`, :meth:`permanent_response`; vendor-only faults listed in
    ``extra_faults`` are rendered by a ``fault_<name>`` method). :meth:`handle` runs an
    armed fault first, then the route; every request goes to :attr:`log`, secrets
    redacted. The same ``handle`` serves an ``httpx.MockTransport``
    (:meth:`transport`) and a loopback :class:`EmulatorServer`.
    """

    vendor: ClassVar[str] = "emulator"
    extra_faults: ClassVar[tuple[str, ...]] = ()
    fault_aliases: ClassVar[Mapping[str, str]] = {}
    secret_headers: ClassVar[tuple[str, ...]] = ()
    _routes: ClassVar[tuple[_Route, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, _Route] = {}
        for klass in reversed(cls.__mro__):
            for name, member in vars(klass).items():
                spec = getattr(member, _ROUTE, None)
                if isinstance(spec, _Route):
                    found[name] = spec
        cls._routes = tuple(found.values())

    def __init__(
        self,
        *,
        clock: EmulatorClock | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock = clock or EmulatorClock()
        self.faults = FaultQueue(
            extra=self.extra_faults, aliases=dict(self.fault_aliases)
        )
        self.log = RequestLog(secret_headers=self.secret_headers)
        self.lock = threading.RLock()
        self.sleep = sleep
        self._local = threading.local()

    # -- the seam ------------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering in-process through :meth:`handle`."""
        return httpx.MockTransport(self.handle)

    @property
    def active_fault(self) -> ArmedFault | None:
        """The fault of the request being handled whose renderer left it to the
        route (a vendor fault that fails one item of a batch, say)."""
        fault: ArmedFault | None = getattr(self._local, "fault", None)
        return fault

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request: an armed fault first, then the matching route."""
        body = request.read()
        found = self._match(request)
        fault = self._take_fault(request, found)
        self._local.fault = None
        try:
            if fault is not None:
                early = self._apply_fault(fault, request)
                if early is not None:
                    self.log.record(request, body, early.status_code)
                    return self._dated(early)
            response = self._dated(self._dispatch(request, found))
            if fault is not None and fault.after_commit:
                raise _LostAnswer(fault)
        except _LostAnswer as lost:
            self.log.record(request, body, 0)
            if lost.fault.name == "slow":
                raise httpx.ReadTimeout("timed out", request=request) from None
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        finally:
            self._local.fault = None
        self.log.record(request, body, response.status_code)
        return response

    def _dated(self, response: httpx.Response) -> httpx.Response:
        """``response`` with the vendor's ``Date`` header, read from :attr:`clock`."""
        if "date" not in response.headers:
            response.headers["Date"] = self.clock.http_date()
        return response

    def _match(self, request: httpx.Request) -> _Found:
        path = request.url.path
        other_method = False
        for spec in self._routes:
            matched = spec.pattern.fullmatch(path)
            if matched is None:
                continue
            if spec.method == request.method.upper():
                return _Found(spec, matched.groupdict(), other_method=False)
            other_method = True
        return _Found(None, {}, other_method=other_method)

    def _is_write(self, request: httpx.Request, spec: _Route | None) -> bool:
        if spec is not None and spec.write is not None:
            return spec.write
        return request.method.upper() not in {"GET", "HEAD"}

    def _take_fault(self, request: httpx.Request, found: _Found) -> ArmedFault | None:
        spec = found.route
        policy = spec.faults if spec is not None else "any"
        if policy == "never":
            return None
        return self.faults.take(
            request.url.path,
            method=request.method,
            write=self._is_write(request, spec),
            explicit=policy == "explicit",
        )

    def _apply_fault(
        self, fault: ArmedFault, request: httpx.Request
    ) -> httpx.Response | None:
        if fault.name == "dropped_connection":
            if fault.after_commit:
                return None  # carried out by the route; the answer is lost afterwards
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if fault.name == "slow":
            if fault.options.get("timeout"):
                if fault.after_commit:
                    return None
                raise httpx.ReadTimeout("timed out", request=request)
            self.sleep(float(fault.options.get("delay", 1.0)))
            return None
        if fault.name == "expired":
            self.expire_session(request)
            return self.expired_response(fault, request)
        if fault.name == "rate_limit":
            return self.rate_limit_response(fault, request)
        if fault.name == "transient":
            return self.transient_response(fault, request)
        if fault.name == "permanent":
            return self.permanent_response(fault, request)
        renderer = getattr(self, f"fault_{fault.name}", None)
        if renderer is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no fault_{fault.name}"
            )
        response: httpx.Response | None = renderer(fault, request)
        if response is None:
            self._local.fault = fault
        return response

    def _dispatch(self, request: httpx.Request, found: _Found) -> httpx.Response:
        spec, groups = found.route, found.groups
        if spec is None:
            if found.other_method:
                return self.method_not_allowed(request)
            return self.not_found(request)
        if not spec.public:
            denied = self.authorize(request)
            if denied is not None:
                return denied
        handler: Handler = getattr(self, spec.name)
        return handler(request, **groups)

    # -- how the vendor renders things (override) --------------------------------
    def authorize(self, request: httpx.Request) -> httpx.Response | None:
        """The refusal of a request without valid credentials, or ``None`` to let it
        through (the default: every request passes; public routes skip it)."""
        return None

    def not_found(self, request: httpx.Request) -> httpx.Response:
        return json_response(404, {"error": "not_found", "message": "no such resource"})

    def method_not_allowed(self, request: httpx.Request) -> httpx.Response:
        return json_response(
            405, {"error": "method_not_allowed", "message": request.method}
        )

    def expire_session(self, request: httpx.Request) -> None:
        """Invalidate the credential ``request`` carries (the ``expired`` fault)."""

    def rate_limit_response(
        self, fault: ArmedFault, request: httpx.Request
    ) -> httpx.Response:
        retry_after = fault.options.get("retry_after", 2)
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return json_response(
            int(fault.options.get("status", 429)),
            {"error": "rate_limited", "message": "too many requests"},
            headers,
        )

    def transient_response(
        self, fault: ArmedFault, request: httpx.Request
    ) -> httpx.Response:
        return json_response(
            int(fault.options.get("status", 503)),
            {
                "error": "unavailable",
                "message": "the service is unavailable, try again",
            },
        )

    def expired_response(
        self, fault: ArmedFault, request: httpx.Request
    ) -> httpx.Response:
        return json_response(
            401, {"error": "invalid_token", "message": "the token expired"}
        )

    def permanent_response(
        self, fault: ArmedFault, request: httpx.Request
    ) -> httpx.Response:
        return json_response(
            int(fault.options.get("status", 400)),
            {
                "error": str(fault.options.get("code", "invalid_request")),
                "message": str(
                    fault.options.get("message", "the request is not allowed")
                ),
            },
        )
