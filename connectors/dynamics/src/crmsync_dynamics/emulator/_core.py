"""The emulated Dataverse Web API: ``DataverseEmulator.handle(request) -> response``.

Routes, auth, service protection and faults live here; rows in :mod:`._store`, queries
in :mod:`._reads`, actions in :mod:`._actions`, ``$batch`` in :mod:`._batch`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx

from crmsync.testing.emulator import (
    ArmedFault,
    EmulatorBase,
    EmulatorClock,
    LoggedRequest,
    RequestLog,
    route,
)
from crmsync_dynamics.emulator._auth import EntraTokenEndpoint, TokenRefusal
from crmsync_dynamics.emulator._schema import SCHEMAS, Table
from crmsync_dynamics.emulator._store import DataverseError, OrgStore

__all__ = ["DataverseEmulator", "Reply", "Request"]

_DATA = r"/api/data/v9\.[012](?:/(?P<rest>.*))?"
_JSON = "application/json; odata.metadata=minimal"
DEFAULT_ORG = "https://contoso.crm.dynamics.com"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_TENANT = "11111111-2222-3333-4444-555555555555"
_LIMITS = {
    "0x80072322": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    "0x80072321": "Combined execution time of incoming requests exceeded limit of 1,200,000 "
    "milliseconds over time window of 300 seconds. Decrease number of concurrent requests or "
    "reduce the duration of requests and try again later.",
    "0x80072326": "Number of concurrent requests exceeded the limit of 52.",
}


@dataclass
class Request:
    """A request inside the emulator (top level or a ``$batch`` part)."""

    method: str
    path: str  # after /api/data/v9.2/, decoded
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: str = ""

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise DataverseError(400, "0x0", "The request body is not valid JSON.") from None

    def prefer(self) -> dict[str, str]:
        """``Prefer`` preferences: name -> value ("" when it has none)."""
        found: dict[str, str] = {}
        for item in _split_prefer(self.headers.get("prefer", "")):
            name, _, value = item.partition("=")
            found[name.strip().lower()] = value.strip().strip('"')
        return found


def _split_prefer(text: str) -> list[str]:
    """Split on commas outside quotes (``odata.include-annotations="a,b"``)."""
    items, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            items.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        items.append(current)
    return [item.strip() for item in items if item.strip()]


@dataclass
class Reply:
    """A response inside the emulator."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None
    content_type: str = _JSON


class DataverseEmulator(EmulatorBase):
    """One Dataverse organisation and its Entra ID tenant.

    ``transport()`` gives an ``httpx.MockTransport`` (or serve it with the kit's
    ``EmulatorServer``); the org is at :attr:`org_url`
    (``https://contoso.crm.dynamics.com`` by default) and the token endpoint at
    ``{authority}/{tenant}/oauth2/v2.0/token``. Test controls: :attr:`clock`,
    :attr:`faults`, :attr:`requests`, :meth:`seed`, :meth:`edit`, :meth:`qualify`,
    :meth:`merge`, :meth:`delete`, :meth:`set_change_tracking`.
    """

    vendor = "Microsoft Dataverse"

    def __init__(
        self,
        *,
        org_url: str = DEFAULT_ORG,
        authority: str = DEFAULT_AUTHORITY,
        tenant: str = DEFAULT_TENANT,
        clock: EmulatorClock | None = None,
    ) -> None:
        super().__init__(clock=clock or EmulatorClock())
        self.org_url = org_url.rstrip("/")
        self.authority = authority.rstrip("/")
        self.tenant = tenant
        self.store = OrgStore(self.clock.now)
        self.entra = EntraTokenEndpoint(tenant, self.clock.now)
        self.organization_id = str(uuid.uuid5(uuid.NAMESPACE_URL, self.org_url))
        self.business_unit_id = str(uuid.uuid5(uuid.NAMESPACE_URL, self.org_url + "/bu"))
        self.change_tracking_expiry_days = 7
        self.concurrency_limit = 52
        self.request_limit: tuple[int, float] | None = None  # (requests, window seconds)
        self.duplicate_detection_on_email = True
        self._in_flight = 0
        self._recent: deque[float] = deque()
        self._protection = threading.Lock()
        self.delta_token_refusals = 0

    # -- wiring ------------------------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering in-process through :meth:`handle`."""
        return httpx.MockTransport(self.handle)

    @property
    def requests(self) -> RequestLog:
        """Every request answered (the kit's request log)."""
        return self.log

    @property
    def api_root(self) -> str:
        return f"{self.org_url}/api/data/v9.2"

    @property
    def token_url(self) -> str:
        return f"{self.authority}/{self.tenant}/oauth2/v2.0/token"

    def register_app(
        self,
        client_id: str,
        *,
        client_secret: str | None = None,
        certificate_pem: str | None = None,
        application_user: bool = True,
    ) -> None:
        """An Entra app registration (secret and/or certificate) and, unless
        ``application_user=False``, its Dataverse application user."""
        self.entra.register(
            client_id,
            client_secret=client_secret,
            certificate_pem=certificate_pem,
            application_user=application_user,
        )

    def expire_tokens(self) -> None:
        """Every issued access token expires now (the next data call gets 401)."""
        self.entra.expire_all()

    def calls(self, method: str | None = None, path_contains: str = "") -> list[LoggedRequest]:
        """Logged requests filtered by method and path fragment."""
        return self.log.calls(method, path_contains)

    def data_calls(self) -> list[LoggedRequest]:
        """Logged Web API requests (not token requests)."""
        return self.log.calls(None, "/api/data/")

    # -- control API (what a CRM user or admin does) -----------------------------------------
    def _table(self, object_name: str) -> Table:
        table = SCHEMAS.get(object_name.lower())
        if table is None:
            raise ValueError(f"the emulator has no table {object_name!r}; one of {sorted(SCHEMAS)}")
        return table

    def seed(
        self,
        object_name: str,
        records: Sequence[Mapping[str, Any]],
        *,
        modified_at: dt.datetime | None = None,
    ) -> list[str]:
        """Create rows as a user would (validated); ``modified_at`` stamps them (a
        late-committing transaction); returns their ids."""
        table = self._table(object_name)
        ids = []
        for record in records:
            values = dict(record)
            if table.logical_name == "lead":
                values.setdefault("subject", "Seeded by the emulator")
            row = self.store.create(table, values, at=modified_at)
            ids.append(row[table.primary_key])
        return ids

    def edit(
        self,
        object_name: str,
        record_id: str,
        values: Mapping[str, Any],
        *,
        modified_at: dt.datetime | None = None,
    ) -> None:
        """An edit by a CRM user, stamped with the clock (or ``modified_at``)."""
        self.store.update(self._table(object_name), record_id, dict(values), at=modified_at)

    def get(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        """A row's stored values (lookups by column name), or ``None``."""
        row = self.store.get(self._table(object_name).logical_name, record_id)
        return None if row is None else {k: v for k, v in row.items() if k != "__targets"}

    def rows(self, object_name: str) -> list[dict[str, Any]]:
        """Every row of a table (stored values)."""
        table = self._table(object_name)
        return [
            {k: v for k, v in row.items() if k != "__targets"}
            for row in self.store.all_rows(table.logical_name)
        ]

    def delete(self, object_name: str, record_id: str) -> None:
        """Delete a row (change tracking reports it as ``$deletedEntity``)."""
        self.store.delete(self._table(object_name), record_id)

    def qualify(self, lead_id: str, *, create_contact: bool = True) -> str | None:
        """Qualify a lead as a user would (``QualifyLead``); the new contact's id."""
        from crmsync_dynamics.emulator._actions import qualify

        created = qualify(self, lead_id, create_contact=create_contact)
        return next((str(r["contactid"]) for r in created if "contactid" in r), None)

    def merge(
        self,
        object_name: str,
        target_id: str,
        subordinate_id: str,
        update_content: Mapping[str, Any] | None = None,
    ) -> None:
        """Merge ``subordinate_id`` into ``target_id`` (the ``Merge`` action)."""
        from crmsync_dynamics.emulator._actions import merge

        merge(self, self._table(object_name), target_id, subordinate_id, dict(update_content or {}))

    def set_change_tracking(self, object_name: str, enabled: bool) -> None:
        """Turn the table's change tracking on or off (``ChangeTrackingEnabled``)."""
        self.store.data(self._table(object_name).logical_name).change_tracking = enabled

    # -- HTTP (routes on the kit's EmulatorBase) ---------------------------------------------
    @route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", faults="explicit")
    def token_endpoint(self, request: httpx.Request, tenant: str) -> httpx.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        return self._response(self._token(request, tenant, headers, request.content.decode()))

    @route("GET", _DATA)
    def data_get(self, request: httpx.Request, rest: str | None = None) -> httpx.Response:
        return self._data(request, rest)

    @route("POST", _DATA)
    def data_post(self, request: httpx.Request, rest: str | None = None) -> httpx.Response:
        return self._data(request, rest)

    @route("PATCH", _DATA)
    def data_patch(self, request: httpx.Request, rest: str | None = None) -> httpx.Response:
        return self._data(request, rest)

    @route("DELETE", _DATA)
    def data_delete(self, request: httpx.Request, rest: str | None = None) -> httpx.Response:
        return self._data(request, rest)

    def not_found(self, request: httpx.Request) -> httpx.Response:
        segment = request.url.path.strip("/").split("/")[0]
        return self._response(
            Reply(
                404,
                DataverseError(
                    404, "0x8006088a", f"Resource not found for the segment '{segment}'."
                ).body(),
            )
        )

    def _data(self, request: httpx.Request, rest: str | None) -> httpx.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        issued = self._authenticate(headers)
        if issued is None:
            return self._response(self._challenge())
        if not self.entra.has_application_user(issued):
            return self._response(
                Reply(
                    403,
                    DataverseError(
                        403,
                        "0x80095ffc",
                        f"Access to Dataverse API is restricted for this application Id "
                        f"{issued}. No application user exists for it in the organization.",
                    ).body(),
                )
            )
        limited = self._service_protection()
        if limited is not None:
            return self._response(limited)
        try:
            query = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
            inner = Request(
                request.method, unquote(rest or ""), query, headers, request.content.decode()
            )
            return self._response(self.dispatch(inner))
        finally:
            with self._protection:
                self._in_flight -= 1

    def _response(self, reply: Reply) -> httpx.Response:
        headers = {
            "OData-Version": "4.0",
            "REQ_ID": str(uuid.uuid4()),
            "Date": email.utils.format_datetime(self.clock.now(), usegmt=True),
            **reply.headers,
        }
        if reply.raw is not None:
            headers.setdefault("Content-Type", reply.content_type)
            return httpx.Response(reply.status, headers=headers, content=reply.raw.encode())
        if reply.body is None:
            return httpx.Response(reply.status, headers=headers)
        headers.setdefault("Content-Type", reply.content_type)
        return httpx.Response(
            reply.status, headers=headers, content=json.dumps(reply.body).encode()
        )

    # -- the contract kit's faults, as Dataverse renders them -------------------------------
    def expire_session(self, request: httpx.Request) -> None:
        self.expire_tokens()

    def rate_limit_response(self, fault: ArmedFault, request: httpx.Request) -> httpx.Response:
        code = str(fault.options.get("code", "0x80072322"))
        retry = fault.options.get("retry_after", 12)
        headers = {} if retry is None else {"Retry-After": str(retry)}
        return self._response(Reply(429, DataverseError(429, code, _LIMITS[code]).body(), headers))

    def transient_response(self, fault: ArmedFault, request: httpx.Request) -> httpx.Response:
        status = int(fault.options.get("status", 503))
        return self._response(
            Reply(
                status,
                {"error": {"code": "0x80040216", "message": "An unexpected error occurred."}},
            )
        )

    def expired_response(self, fault: ArmedFault, request: httpx.Request) -> httpx.Response:
        return self._response(self._challenge())

    def permanent_response(self, fault: ArmedFault, request: httpx.Request) -> httpx.Response:
        message = str(fault.options.get("message", "The request is not valid."))
        return self._response(Reply(400, {"error": {"code": "0x0", "message": message}}))

    def _challenge(self) -> Reply:
        value = (
            f"Bearer authorization_uri={self.authority}/{self.tenant}/oauth2/authorize, "
            f"resource_id={self.org_url}/"
        )
        return Reply(401, None, {"WWW-Authenticate": value})

    def _authenticate(self, headers: Mapping[str, str]) -> str | None:
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        issued = self.entra.check(token.strip())
        return None if issued is None else issued.client_id

    def _service_protection(self) -> Reply | None:
        """The concurrency cap fails at once; the request count over its window too.
        On success the request counts as in flight (the caller releases it)."""
        now = self.clock.now().timestamp()
        with self._protection:
            if self._in_flight >= self.concurrency_limit:
                code = "0x80072326"
                retry = 1
            elif self.request_limit is not None:
                limit, window = self.request_limit
                while self._recent and self._recent[0] <= now - window:
                    self._recent.popleft()
                if len(self._recent) >= limit:
                    code = "0x80072322"
                    retry = max(1, int(self._recent[0] + window - now))
                else:
                    self._recent.append(now)
                    self._in_flight += 1
                    return None
            else:
                self._in_flight += 1
                return None
        message = _LIMITS[code]
        if code == "0x80072322" and self.request_limit is not None:
            message = (
                f"Number of requests exceeded the limit of {self.request_limit[0]} over time "
                f"window of {int(self.request_limit[1])} seconds."
            )
        return Reply(429, DataverseError(429, code, message).body(), {"Retry-After": str(retry)})

    def _token(
        self, request: httpx.Request, tenant: str, headers: Mapping[str, str], body: str
    ) -> Reply:
        basic = None
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            basic = value.strip()
        token_url = str(request.url.copy_with(query=None))
        try:
            answer = self.entra.issue(
                tenant=tenant,
                form_body=body,
                basic=basic,
                token_url=token_url,
                resource=self.org_url,
            )
        except TokenRefusal as refusal:
            return Reply(
                refusal.status,
                refusal.body(self.clock.now()),
                content_type="application/json; charset=utf-8",
            )
        return Reply(200, answer, content_type="application/json; charset=utf-8")

    # -- routing -----------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Reply:
        """Answer one Web API request (top level or a batch part)."""
        from crmsync_dynamics.emulator import _actions, _batch, _metadata, _reads, _writes

        try:
            rest = request.path.strip("/")
            if rest == "":
                return _metadata.service_document(self)
            if rest == "$metadata":
                return _metadata.csdl(self)
            if rest == "WhoAmI" and request.method == "GET":
                return Reply(
                    200,
                    {
                        "@odata.context": f"{self.api_root}/$metadata#"
                        "Microsoft.Dynamics.CRM.WhoAmIResponse",
                        "BusinessUnitId": self.business_unit_id,
                        "UserId": str(uuid.uuid5(uuid.NAMESPACE_URL, self.org_url + "/app-user")),
                        "OrganizationId": self.organization_id,
                    },
                )
            if rest == "$batch" and request.method == "POST":
                return _batch.run(self, request)
            if rest == "Merge" and request.method == "POST":
                return _actions.merge_action(self, request)
            if rest.startswith("EntityDefinitions"):
                return _metadata.entity_definitions(self, request, rest)
            match = re.match(
                r"^(?P<set>[A-Za-z_]\w*)(?:\((?P<key>[^)]*)\))?(?:/(?P<tail>.+))?$", rest
            )
            if match is None:
                raise DataverseError(
                    404, "0x8006088a", f"Resource not found for the segment '{rest}'."
                )
            table = self.store.table_for_set(match.group("set"))
            if table is None:
                raise DataverseError(
                    404,
                    "0x8006088a",
                    f"Resource not found for the segment '{match.group('set')}'.",
                )
            key, tail = match.group("key"), match.group("tail")
            if key is None:
                if tail is None:
                    if request.method == "GET":
                        return _reads.collection(self, table, request)
                    if request.method == "POST":
                        return _writes.create(self, table, request)
                    raise DataverseError(
                        405,
                        "0x80060888",
                        f"The requested resource does not support http method '{request.method}'.",
                    )
                if request.method == "POST" and tail in {
                    "Microsoft.Dynamics.CRM.CreateMultiple",
                    "Microsoft.Dynamics.CRM.UpdateMultiple",
                }:
                    return _writes.multiple(self, table, request, tail.rsplit(".", 1)[-1])
                raise DataverseError(
                    404, "0x8006088a", f"Resource not found for the segment '{tail}'."
                )
            record_id = key.removeprefix(f"{table.primary_key}=")
            if tail is None:
                if request.method == "GET":
                    return _reads.single(self, table, record_id, request)
                if request.method == "PATCH":
                    return _writes.patch(self, table, record_id, request)
                if request.method == "DELETE":
                    self.store.delete(table, record_id)
                    return Reply(204)
                raise DataverseError(
                    405,
                    "0x80060888",
                    f"The requested resource does not support http method '{request.method}'.",
                )
            reference = re.match(r"^(?P<nav>\w+)/\$ref$", tail)
            if reference is not None and request.method == "DELETE":
                return _writes.unbind(self, table, record_id, reference.group("nav"))
            if tail == "Microsoft.Dynamics.CRM.QualifyLead" and request.method == "POST":
                if table.logical_name != "lead":
                    raise DataverseError(
                        404, "0x8006088a", f"Resource not found for the segment '{tail}'."
                    )
                return _actions.qualify_action(self, record_id, request)
            raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{tail}'.")
        except DataverseError as error:
            return Reply(error.status, error.body(), dict(error.headers))
