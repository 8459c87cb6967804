"""The emulated Zoho CRM org and its HTTP surface: ``ZohoEmulator.handle(request)``.

Built to the fact sheet's section 9 checklist: accounts-server token endpoint (errors as
HTTP 200 ``{"error": ...}``, throttling as HTTP 400 ``Access Denied``), ``/crm/{v}/...``
on a ``zohoapis`` host, ``Zoho-oauthtoken`` (or ``Bearer``) header, ``fields`` mandatory
and capped at 50, ``If-Modified-Since`` inclusive of its second, 2,000-record ``page``
window then ``page_token``, 204/304 empty answers, per-record write results in input
order with 201/200/207/400 batch statuses, the deleted-records list, lead conversion,
a rolling 24-hour credit ledger and per-edition concurrency (429 ``TOO_MANY_REQUESTS``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import re
import secrets
import threading
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import httpx

from crmsync.testing.emulator import (
    ArmedFault,
    EmulatorBase,
    EmulatorClock,
    LoggedRequest,
    json_response,
    route,
)
from crmsync_zoho.emulator._errors import USER, Client, Grant, PageToken, Reply, error
from crmsync_zoho.emulator._reads import coql, deleted_list, list_records, search
from crmsync_zoho.emulator._schema import FIELDS, MODULES, field_metadata, validate_value
from crmsync_zoho.emulator._writes import convert_call, delete_many, merge_call, write

__all__ = ["CONCURRENCY", "ZohoEmulator"]

CONCURRENCY = {"free": 5, "standard": 10, "professional": 15, "enterprise": 20, "ultimate": 25}
SUB_CONCURRENCY = 10
_VERSIONS = ("v2", "v2.1", "v3", "v4", "v5", "v6", "v7", "v8")
_CRM_PATH = re.compile(r"^/crm/(v[0-9.]+)/(.+)$")
_JSON = "application/json;charset=UTF-8"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_THROTTLE = {
    "error": "Access Denied",
    "error_description": "You have made too many requests continuously. Please try again "
    "after some time.",
}
_TOKEN_WINDOW = 600.0
_TOKENS_PER_WINDOW = 10


def _version_number(version: str) -> float:
    return float(version[1:])


def _record_count(body: bytes) -> int:
    """How many records a write body carries (0 when it is not one)."""
    try:
        data = json.loads(body or b"{}").get("data")
    except (ValueError, AttributeError):
        return 0
    return len(data) if isinstance(data, list) else 0


class ZohoEmulator(EmulatorBase):
    """An in-memory Zoho CRM org (one data centre) speaking the v2..v8 REST API.

    ``records[module][id]`` holds wire values plus private ``_``-prefixed bookkeeping
    keys (times as aware datetimes, insertion sequence, conversion state).

    Faults (``emulator.faults.inject(name, count=1, path_contains=None, **options)``):
    the contract kit's ``rate_limit`` (429 ``TOO_MANY_REQUESTS``, no ``Retry-After``),
    ``transient`` (500 ``INTERNAL_ERROR``), ``expired`` (every token dropped, 401
    ``INVALID_TOKEN``), ``permanent`` (400 ``code``), the transport faults ``slow`` and
    ``dropped_connection`` (``after_commit=True``: carried out, answer lost), and Zoho's
    own ``quota`` (429, credits spent, ``X-API-CREDITS-REMAINING: 0``) and
    ``token_throttle`` (token endpoint 400 ``Access Denied``; name the token path).
    """

    vendor = "Zoho CRM"
    extra_faults = ("quota", "token_throttle")
    fault_aliases: ClassVar[Mapping[str, str]] = {"server_error": "transient"}

    def __init__(
        self,
        *,
        accounts_host: str = "accounts.zoho.com",
        api_domain: str = "https://www.zohoapis.com",
        user_tz: dt.tzinfo | None = None,
        token_ttl: int = 3600,
        edition: str = "enterprise",
        credit_limit: int = 50_000 + 1_000 * 10,
        mixed_status: int = 207,
        not_modified_status: int = 304,
        convert_bumps_modified: bool = True,
        unique_email: bool = False,
        id_prefix: str = "4970762000000",
    ) -> None:
        if edition not in CONCURRENCY:
            raise ValueError(f"edition must be one of {', '.join(CONCURRENCY)}")
        if mixed_status not in {200, 202, 207}:
            raise ValueError("mixed_status must be 207 (v7+ docs), 200 (seen live) or 202 (v2)")
        if not_modified_status not in {204, 304}:
            raise ValueError("not_modified_status must be 304 (seen live) or 204")
        super().__init__(clock=EmulatorClock(resolution="second"))
        self.records: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in MODULES}
        self.deleted: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in MODULES}
        self.accounts_host = accounts_host
        self.api_domain = api_domain
        self.user_tz = user_tz or dt.timezone(dt.timedelta(hours=2))
        self.token_ttl = token_ttl
        self.edition = edition
        self.credit_limit = credit_limit
        self.mixed_status = mixed_status
        self.not_modified_status = not_modified_status
        self.convert_bumps_modified = convert_bumps_modified
        self.unique_email = unique_email
        self.token_requests = 0
        self.credits: list[tuple[dt.datetime, int]] = []
        self.max_in_flight = 0
        self.triggers: list[Any] = []
        self.search_lag = 0.0
        """Seconds before a new record can be found by Search (its index lags)."""
        self._id_prefix = id_prefix
        self._next_id = 100_001
        self._seq = 0
        self._clients: dict[str, Client] = {}
        self._codes: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        self._access: dict[str, tuple[Grant, dt.datetime]] = {}
        self._page_tokens: dict[str, PageToken] = {}
        self._in_flight = 0
        self._heavy_in_flight = 0
        self._lock = self.lock
        self._flight_lock = threading.Lock()

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request answered so far (secrets masked)."""
        return list(self.log)

    # -- configuration -------------------------------------------------------------------
    def register_client(
        self,
        client_id: str,
        client_secret: str,
        *,
        scopes: str = "ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.coql.READ",
    ) -> None:
        """A self client in the API console (``scopes`` are what its grants carry)."""
        self._clients[client_id] = Client(client_id, client_secret, scopes)

    def issue_grant_code(self, client_id: str, *, minutes: int = 3) -> str:
        """A self client's one-time grant token, as the API console shows it."""
        code = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        expires = self.clock.now() + dt.timedelta(minutes=minutes)
        self._codes[code] = Grant(client_id, self._clients[client_id].scopes, expires)
        return code

    def issue_refresh_token(self, client_id: str, *, scopes: str | None = None) -> str:
        """A refresh token, as exchanging a grant code would have handed out."""
        token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        self._refresh[token] = Grant(client_id, scopes or self._clients[client_id].scopes)
        return token

    def revoke(self, refresh_token: str) -> None:
        with self._lock:
            self._refresh.pop(refresh_token, None)

    def expire_tokens(self) -> None:
        """Every access token stops working: the next CRM call answers 401."""
        with self._lock:
            self._access.clear()

    @property
    def credits_used(self) -> int:
        """Credits spent in the rolling 24-hour window ending now."""
        horizon = self.clock.now() - dt.timedelta(hours=24)
        return sum(cost for at, cost in self.credits if at > horizon)

    # -- control API (a CRM user's actions) ------------------------------------------------
    def seed(
        self,
        module: str,
        records: Iterable[Mapping[str, Any]],
        *,
        at: dt.datetime | None = None,
    ) -> list[str]:
        """Create records as a user would (validated like an API insert); returns ids."""
        ids: list[str] = []
        with self._lock:
            for values in records:
                problem = self._problems(module, values, creating=True)
                if problem is not None:
                    raise ValueError(f"seed refused: {problem}")
                ids.append(self._insert(module, dict(values), at=at))
        return ids

    def get(self, module: str, record_id: str) -> dict[str, Any]:
        """A stored record as the API renders it (all fields)."""
        with self._lock:
            return self._render(module, self.records[module][record_id], None, 8)

    def edit(
        self,
        module: str,
        record_id: str,
        values: Mapping[str, Any],
        *,
        at: dt.datetime | None = None,
    ) -> None:
        """Change fields as a CRM user would, stamped ``at`` (default: the clock)."""
        with self._lock:
            record = self.records[module][record_id]
            problem = self._problems(module, values, creating=False)
            if problem is not None:
                raise ValueError(f"edit refused: {problem}")
            self._apply(module, record, values)
            self._stamp(record, at)

    def convert_lead(self, lead_id: str, *, contact_id: str | None = None) -> str:
        """Convert a lead (as the UI does); returns the contact id."""
        with self._lock:
            details = self._convert(lead_id, {"Contacts": {"id": contact_id}} if contact_id
                                    else {})
            return str(details["Contacts"]["id"])

    def merge(self, module: str, master_id: str, child_ids: Iterable[str]) -> None:
        """Merge one or two children into ``master_id``: children go to the recycle bin,
        the master keeps its id and is stamped."""
        children = list(child_ids)
        if not 1 <= len(children) <= 2:
            raise ValueError("a merge takes one or two children (three records at most)")
        with self._lock:
            table = self.records[module]
            for child in children:
                if child not in table or child == master_id:
                    raise ValueError(f"cannot merge {child}")
            for child in children:
                self._delete(module, child)
            self._stamp(table[master_id])

    def delete(self, module: str, record_id: str, *, permanent: bool = False) -> None:
        """Delete to the recycle bin (or, ``permanent``, for good); both are listed by
        ``/{module}/deleted`` (``type=recycle|permanent``)."""
        with self._lock:
            self._delete(module, record_id)
            if permanent:
                entry = self.deleted[module][record_id]
                entry.update({"type": "permanent", "display_name": None, "deleted_by": None,
                              "created_by": None})

    def calls(self, method: str | None = None, path_contains: str = "") -> list[LoggedRequest]:
        """Logged requests filtered by method and path fragment."""
        return self.log.calls(method, path_contains)

    # -- storage ---------------------------------------------------------------------------
    def _mint(self) -> str:
        self._next_id += 1
        return f"{self._id_prefix}{self._next_id:06d}"

    def _stamp(self, record: dict[str, Any], at: dt.datetime | None = None) -> None:
        moment = (at or self.clock.now()).astimezone(dt.UTC).replace(microsecond=0)
        record["_modified"] = moment
        record["Modified_By"] = dict(USER)
        self._seq += 1
        record["_seq"] = self._seq

    def _insert(self, module: str, values: dict[str, Any], *, at: dt.datetime | None = None
                ) -> str:
        record_id = self._mint()
        fields = FIELDS[module]
        record: dict[str, Any] = {name: None for name in fields}
        record.update({"id": record_id, "Owner": dict(USER), "Created_By": dict(USER),
                       "Tag": []})
        if "Email_Opt_Out" in fields:
            record["Email_Opt_Out"] = False
        self._apply(module, record, values)
        moment = (at or self.clock.now()).astimezone(dt.UTC).replace(microsecond=0)
        record["_created"] = moment
        record["_converted"] = False
        record["_converted_detail"] = {}
        self._stamp(record, at)
        self.records[module][record_id] = record
        return record_id

    def _apply(self, module: str, record: dict[str, Any], values: Mapping[str, Any]) -> None:
        fields = FIELDS[module]
        for name, value in values.items():
            fdef = fields.get(name)
            if fdef is None or fdef.field_read_only or name == "id":
                continue  # unknown keys and read-only fields are ignored, as Zoho does
            record[name] = value
        if "Full_Name" in fields:
            parts = [record.get("First_Name"), record.get("Last_Name")]
            record["Full_Name"] = " ".join(p for p in parts if p) or None

    def _delete(self, module: str, record_id: str) -> None:
        record = self.records[module].pop(record_id)
        self.deleted[module][record_id] = {
            "id": record_id,
            "display_name": record.get("Full_Name") or record.get("Account_Name"),
            "type": "recycle",
            "_deleted": self.clock.now(),
            "deleted_by": {"name": USER["name"], "id": USER["id"]},
            "created_by": {"name": USER["name"], "id": USER["id"]},
        }

    def _problems(self, module: str, values: Mapping[str, Any], *, creating: bool
                  ) -> tuple[str, dict[str, Any]] | None:
        fields = FIELDS[module]
        for name, value in values.items():
            fdef = fields.get(name)
            if fdef is None or fdef.field_read_only:
                continue
            problem = validate_value(fdef, value)
            if problem is not None:
                return problem
        for fdef in fields.values():
            if not fdef.system_mandatory:
                continue
            if creating or fdef.api_name in values:
                value = values.get(fdef.api_name)
                if value is None or (isinstance(value, str) and not value.strip()):
                    return "MANDATORY_NOT_FOUND", {"api_name": fdef.api_name}
        return None

    def _fmt(self, moment: dt.datetime | None) -> str | None:
        if moment is None:
            return None
        return moment.astimezone(self.user_tz).isoformat(timespec="seconds")

    def _render(self, module: str, record: dict[str, Any], fields: list[str] | None,
                version: float) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in record.items():
            if name.startswith("_"):
                continue
            if name.startswith("Converted_") and version < 3:
                continue
            out[name] = value
        out["Created_Time"] = self._fmt(record["_created"])
        out["Modified_Time"] = self._fmt(record["_modified"])
        if fields is not None:
            out = {k: v for k, v in out.items() if k in fields or k == "id"}
            return out
        out.update({
            "$approved": True, "$editable": True, "$approval_state": "approved",
            "$state": "save", "$in_merge": False, "$process_flow": False,
            "$approval": {"delegate": False, "approve": False, "reject": False,
                          "resubmit": False},
            "$converted_detail": dict(record["_converted_detail"]),
        })
        return out

    def _convert(self, lead_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        lead = self.records["Leads"].get(lead_id)
        if lead is None:
            raise error(400, "INVALID_DATA", "the id given seems to be invalid",
                         resource_path_index=1)
        if lead["_converted"]:
            raise error(400, "ID_ALREADY_CONVERTED", "id already converted",
                         resource_path_index=1)
        wanted = body.get("Contacts") or {}
        contact_id = wanted.get("id") if isinstance(wanted, dict) else None
        if contact_id is not None and contact_id not in self.records["Contacts"]:
            raise error(400, "INVALID_DATA", "the id given seems to be invalid",
                         api_name="Contacts")
        email = (lead.get("Email") or "").lower()
        if contact_id is None and email:
            for cid, contact in self.records["Contacts"].items():
                if (contact.get("Email") or "").lower() == email:
                    contact_id = cid
                    break
        account_id = None
        if lead.get("Company"):
            for aid, account in self.records["Accounts"].items():
                if account.get("Account_Name") == lead["Company"]:
                    account_id = aid
            if account_id is None:
                account_id = self._insert("Accounts", {"Account_Name": lead["Company"]})
        if contact_id is None:
            carried = {
                k: lead.get(k)
                for k in ("Salutation", "First_Name", "Last_Name", "Email", "Secondary_Email",
                          "Phone", "Mobile", "Lead_Source", "Email_Opt_Out", "Description")
            }
            carried["Title"] = lead.get("Designation")
            if account_id is not None:
                carried["Account_Name"] = {"id": account_id}
            contact_id = self._insert("Contacts", carried)
        contact = self.records["Contacts"][contact_id]
        details: dict[str, Any] = {
            "Contacts": {"id": contact_id, "name": contact.get("Full_Name")}
        }
        lead["_converted"] = True
        lead["Converted_Contact"] = dict(details["Contacts"])
        if account_id is not None:
            account = self.records["Accounts"][account_id]
            details["Accounts"] = {"id": account_id, "name": account.get("Account_Name")}
            lead["Converted_Account"] = dict(details["Accounts"])
        lead["_converted_detail"] = {
            "converted_by": {"name": USER["name"], "id": USER["id"]},
            "converted_time": self._fmt(self.clock.now()),
        }
        if self.convert_bumps_modified:
            self._stamp(lead)
        return details

    # -- HTTP ----------------------------------------------------------------------------
    def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None
                ) -> httpx.Response:
        # Every answer is dated by the org's clock, as a real server's is (clients measure
        # their clock offset from it).
        dated = {"Date": email.utils.format_datetime(self.clock.now(), usegmt=True),
                 **(headers or {})}
        if payload is None:
            return httpx.Response(status, headers=dated)
        return json_response(status, payload, {"Content-Type": _JSON, **dated})

    def _guarded(self, call: Any, *args: Any) -> httpx.Response:
        try:
            status, payload, headers = call(*args)
        except Reply as reply:
            status, payload, headers = reply.status, reply.body, reply.headers
        return self._answer(status, payload, headers)

    @route("POST", r"/oauth/v2/token", faults="explicit")
    def token_endpoint(self, request: httpx.Request) -> httpx.Response:
        return self._guarded(self._accounts, request, request.read())

    @route("POST", r"/oauth/v2/token/revoke", faults="explicit")
    def revoke_endpoint(self, request: httpx.Request) -> httpx.Response:
        return self._guarded(self._accounts, request, request.read())

    @route("GET", r"/crm/(?P<version>[^/]+)/(?P<rest>.+)")
    def crm_get(self, request: httpx.Request, version: str, rest: str) -> httpx.Response:
        return self._guarded(self._crm_entry, request, version, rest)

    @route("POST", r"/crm/(?P<version>[^/]+)/(?P<rest>.+)")
    def crm_post(self, request: httpx.Request, version: str, rest: str) -> httpx.Response:
        return self._guarded(self._crm_entry, request, version, rest)

    @route("PUT", r"/crm/(?P<version>[^/]+)/(?P<rest>.+)")
    def crm_put(self, request: httpx.Request, version: str, rest: str) -> httpx.Response:
        return self._guarded(self._crm_entry, request, version, rest)

    @route("DELETE", r"/crm/(?P<version>[^/]+)/(?P<rest>.+)")
    def crm_delete(self, request: httpx.Request, version: str, rest: str) -> httpx.Response:
        return self._guarded(self._crm_entry, request, version, rest)

    def _crm_entry(self, request: httpx.Request, version: str, rest: str
                   ) -> tuple[int, Any, dict[str, str]]:
        if version not in _VERSIONS:
            raise error(404, "INVALID_URL_PATTERN", "Please check if the URL trying to "
                         "access is a correct one")
        return self._crm(request, request.read(), version, rest)

    # -- how Zoho renders the kit's faults -------------------------------------------------
    def not_found(self, request: httpx.Request) -> httpx.Response:
        reply = error(404, "INVALID_URL_PATTERN",
                       "Please check if the URL trying to access is a correct one")
        return self._answer(reply.status, reply.body)

    def method_not_allowed(self, request: httpx.Request) -> httpx.Response:
        reply = error(400, "INVALID_REQUEST_METHOD",
                       "The http request method type is not a valid one")
        return self._answer(reply.status, reply.body)

    def expire_session(self, request: httpx.Request) -> None:
        self.expire_tokens()

    def rate_limit_response(self, fault: ArmedFault, request: httpx.Request
                            ) -> httpx.Response:
        reply = error(429, "TOO_MANY_REQUESTS", "concurrency limit exceeded")
        return self._answer(reply.status, reply.body)

    def transient_response(self, fault: ArmedFault, request: httpx.Request
                           ) -> httpx.Response:
        reply = error(int(fault.options.get("status", 500)), "INTERNAL_ERROR",
                       "Internal Server Error")
        return self._answer(reply.status, reply.body)

    def expired_response(self, fault: ArmedFault, request: httpx.Request) -> httpx.Response:
        reply = error(401, "INVALID_TOKEN", "invalid oauth token")
        return self._answer(reply.status, reply.body)

    def permanent_response(self, fault: ArmedFault, request: httpx.Request
                           ) -> httpx.Response:
        reply = error(int(fault.options.get("status", 400)),
                       str(fault.options.get("code", "INVALID_DATA")),
                       str(fault.options.get("message", "invalid data")))
        return self._answer(reply.status, reply.body)

    def fault_quota(self, fault: ArmedFault, request: httpx.Request) -> httpx.Response:
        reply = error(429, "TOO_MANY_REQUESTS",
                       "API credits for the 24-hour window are exhausted")
        return self._answer(reply.status, reply.body, {"X-API-CREDITS-REMAINING": "0"})

    def fault_token_throttle(self, fault: ArmedFault, request: httpx.Request
                             ) -> httpx.Response:
        return self._answer(400, dict(_THROTTLE))

    # -- accounts server -------------------------------------------------------------------
    def _accounts(self, request: httpx.Request, body: bytes
                  ) -> tuple[int, Any, dict[str, str]]:
        host = request.url.host
        if host != self.accounts_host and host not in _LOOPBACK:
            # Another data centre's accounts server does not know this client.
            return 200, {"error": "invalid_client"}, {}
        if request.method != "POST":
            raise error(405, "INVALID_REQUEST_METHOD", "The http request method type is "
                         "not a valid one")
        params = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        params.update(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
        if request.url.path == "/oauth/v2/token/revoke":
            self.revoke(params.get("token", ""))
            return 200, {"status": "success"}, {}
        with self._lock:
            self.token_requests += 1
            client = self._clients.get(params.get("client_id", ""))
            if client is None or not secrets.compare_digest(
                client.client_secret, params.get("client_secret", "")
            ):
                return 200, {"error": "invalid_client"}, {}
            grant_type = params.get("grant_type")
            now = self.clock.now()
            answer: dict[str, Any] = {}
            if grant_type == "authorization_code":
                grant = self._codes.pop(params.get("code", ""), None)
                if grant is None or grant.client_id != client.client_id or (
                    grant.expires_at is not None and grant.expires_at < now
                ):
                    return 200, {"error": "invalid_code"}, {}
                refresh = self.issue_refresh_token(client.client_id, scopes=grant.scopes)
                answer["refresh_token"] = refresh
            elif grant_type == "refresh_token":
                grant_or_none = self._refresh.get(params.get("refresh_token", ""))
                if grant_or_none is None or grant_or_none.client_id != client.client_id:
                    return 200, {"error": "invalid_code"}, {}
                grant = grant_or_none
                window = now - dt.timedelta(seconds=_TOKEN_WINDOW)
                grant.uses = [u for u in grant.uses if u > window]
                if len(grant.uses) >= _TOKENS_PER_WINDOW:
                    return 400, dict(_THROTTLE), {}
                grant.uses.append(now)
            else:
                return 200, {"error": "unsupported_grant_type"}, {}
            access = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            self._access[access] = (grant, now + dt.timedelta(seconds=self.token_ttl))
        api_domain = self.api_domain
        if host in _LOOPBACK:
            api_domain = f"{request.url.scheme}://{request.url.netloc.decode()}"
        answer.update({
            "access_token": access,
            "scope": grant.scopes,
            "api_domain": api_domain,
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
        })
        return 200, answer, {}

    # -- CRM API ---------------------------------------------------------------------------
    def _crm(self, request: httpx.Request, body: bytes, version: str, rest: str
             ) -> tuple[int, Any, dict[str, str]]:
        number = _version_number(version)
        host = request.url.host
        if number > 2 and "zohoapis." not in host and host not in _LOOPBACK:
            raise error(400, "INVALID_HOST", "the host given is invalid")
        grant = self._authorize(request)
        # Sub-concurrency (10) covers resource-heavy calls: COQL, conversions, merges and
        # bulk writes (taken here as more than 10 records).
        heavy = rest == "coql" or "/actions/" in rest or (
            request.method in {"POST", "PUT"} and _record_count(body) > 10
        )
        self._enter(heavy)
        try:
            cost = self._cost(request, rest, body)
            self._spend(cost)
            with self._lock:
                status, payload = self._route(request, body, number, rest, grant)
        finally:
            self._leave(heavy)
        return status, payload, {}

    def _authorize(self, request: httpx.Request) -> Grant:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme not in {"Zoho-oauthtoken", "Bearer"} or not token:
            raise error(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        with self._lock:
            found = self._access.get(token.strip())
        if found is None or found[1] <= self.clock.now():
            raise error(401, "INVALID_TOKEN", "invalid oauth token")
        return found[0]

    def _enter(self, heavy: bool) -> None:
        with self._flight_lock:
            if self._in_flight >= CONCURRENCY[self.edition] or (
                heavy and self._heavy_in_flight >= SUB_CONCURRENCY
            ):
                raise error(429, "TOO_MANY_REQUESTS", "concurrency limit exceeded")
            self._in_flight += 1
            self._heavy_in_flight += int(heavy)
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self, heavy: bool) -> None:
        with self._flight_lock:
            self._in_flight -= 1
            self._heavy_in_flight -= int(heavy)

    def _cost(self, request: httpx.Request, rest: str, body: bytes) -> int:
        if rest.endswith("/actions/convert"):
            return 5
        if rest.endswith("/deleted"):
            return 2
        if rest == "coql":
            try:
                limit = int(re.findall(r"limit\s+(\d+)", json.loads(body or b"{}").get(
                    "select_query", ""), re.I)[-1])
            except (IndexError, ValueError, AttributeError):
                limit = 200
            return 1 if limit <= 200 else 2 if limit <= 1000 else 3
        if request.method in {"POST", "PUT"} and not rest.startswith("settings"):
            return min(10, max(1, math.ceil(_record_count(body) / 10)))
        if "cvid" in request.url.params:
            return 3
        return 1

    def _spend(self, cost: int) -> None:
        with self._lock:
            if self.credits_used + cost > self.credit_limit:
                reply = error(429, "TOO_MANY_REQUESTS",
                               "API credits for the 24-hour window are exhausted")
                reply.headers["X-API-CREDITS-REMAINING"] = "0"
                raise reply
            self.credits.append((self.clock.now(), cost))

    def _module(self, name: str, grant: Grant) -> str:
        if name not in MODULES:
            raise error(400, "INVALID_MODULE", "the module name given seems to be invalid",
                         resource_path_index=0)
        scopes = {s.strip().lower() for s in grant.scopes.split(",")}
        if not scopes & {"zohocrm.modules.all", f"zohocrm.modules.{name.lower()}.all"}:
            raise error(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")
        return name

    def _route(self, request: httpx.Request, body: bytes, version: float, rest: str,
               grant: Grant) -> tuple[int, Any]:
        method = request.method
        parts = rest.split("/")
        if rest == "settings/fields":
            scopes = {s.strip().lower() for s in grant.scopes.split(",")}
            if not scopes & {"zohocrm.settings.fields.read", "zohocrm.settings.all",
                             "zohocrm.settings.fields.all"}:
                raise error(401, "OAUTH_SCOPE_MISMATCH",
                             "invalid oauth scope to access this URL")
            module = request.url.params.get("module", "")
            if not module:
                raise error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is "
                             "missing", param_name="module")
            self._module(module, grant)
            return 200, {"fields": [
                field_metadata(f, i, MODULES.index(module), int(version))
                for i, f in enumerate(FIELDS[module].values())
            ]}
        if rest == "coql" and method == "POST":
            return coql(self, body, version, grant)
        module = self._module(parts[0], grant)
        if len(parts) == 1:
            if method == "GET":
                return list_records(self, request, module, version)
            if method in {"POST", "PUT"}:
                return write(self, request, body, module, version,
                                   "insert" if method == "POST" else "update")
            if method == "DELETE":
                return delete_many(self, request, module)
        if len(parts) == 2 and parts[1] == "upsert" and method == "POST":
            return write(self, request, body, module, version, "upsert")
        if len(parts) == 2 and parts[1] == "search" and method == "GET":
            return search(self, request, module, version)
        if len(parts) == 4 and parts[2:] == ["actions", "merge"] and method == "POST":
            return merge_call(self, body, module, parts[1])
        if len(parts) == 2 and parts[1] == "deleted" and method == "GET":
            return deleted_list(self, request, module)
        if len(parts) == 2 and method == "GET":
            record = self.records[module].get(parts[1])
            if record is None:
                if version <= 2:
                    return 204, None
                raise error(400, "INVALID_DATA", "the related id given seems to be invalid")
            return 200, {"data": [self._render(module, record, None, version)]}
        if len(parts) == 4 and parts[2:] == ["actions", "convert"] and module == "Leads":
            if method != "POST":
                raise error(400, "INVALID_REQUEST_METHOD", "The http request method type is "
                             "not a valid one")
            return convert_call(self, body, parts[1], version)
        raise error(404, "INVALID_URL_PATTERN",
                     "Please check if the URL trying to access is a correct one")
