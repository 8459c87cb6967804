"""The emulated org and its REST surface: ``SalesforceEmulator.handle(request) -> response``."""

from __future__ import annotations

import base64
import bisect
import copy
import datetime as dt
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs

import httpx
import jwt

from crmsync_salesforce.emulator._control import EmulatorClock, Faults, LoggedRequest
from crmsync_salesforce.emulator._ids import KEY_PREFIXES, IdMinter, is_valid_id, to_18
from crmsync_salesforce.emulator._schema import SCHEMAS, ObjectSchema
from crmsync_salesforce.emulator._soql import SoqlError, email_key, parse, parse_datetime
from crmsync_salesforce.emulator._writes import (
    RequestError,
    ValidationRule,
    apply_computed,
    coerce_values,
    format_datetime,
    normalize_references,
    record_errors,
)

__all__ = ["SalesforceEmulator"]

_VERSION_PATH = re.compile(r"^/services/data/v(\d+)\.(\d)(?:/(.*))?$")
_JSON = "application/json;charset=UTF-8"
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_SEASONS = ("Winter", "Spring", "Summer")
_MAX_URI = 16_384


def _release_label(major: int) -> str:
    k = major - 59  # Winter '24 is v59.0; three releases a year
    return f"{_SEASONS[k % 3]} '{(24 + k // 3) % 100:02d}"


@dataclass
class _App:
    client_id: str
    client_secret: str | None
    public_key: Any
    users: set[str]
    run_as: str | None
    rotate_refresh_tokens: bool = False


@dataclass
class _Session:
    client_id: str
    username: str


@dataclass
class _Locator:
    rows: list[dict[str, Any]]
    batch: int


@dataclass
class _Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


_SECRET_FORM_FIELDS = {"client_secret", "refresh_token", "assertion", "password"}


def _redact_form(body: bytes) -> bytes:
    """A token request's form with its secrets masked, as the request log keeps it."""
    from urllib.parse import parse_qsl, urlencode

    pairs = parse_qsl(body.decode(errors="replace"), keep_blank_values=True)
    return urlencode(
        [(key, "***" if key in _SECRET_FORM_FIELDS else value) for key, value in pairs]
    ).encode()


class _LostAnswer(Exception):
    """The call was carried out, but its answer never reaches the client."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _Drop(Exception):
    """Close the connection without answering."""


class SalesforceEmulator:
    """An in-memory Salesforce org speaking the REST API (see the fact sheet, section
    9).

    State lives in plain dicts (``records[object][id18]`` holds wire-format values);
    every request goes through :meth:`handle`, whether it arrives through
    :meth:`transport` or the loopback
    :class:`~crmsync_salesforce.emulator.EmulatorServer`.
    """

    def __init__(
        self,
        *,
        daily_limit: int = 15_000,
        min_version: int = 31,
        max_version: int = 61,
        instance_url: str | None = None,
        org_id: str = "00D5e000000AbCd",
    ) -> None:
        self.clock = EmulatorClock()
        self.faults = Faults()
        self.requests: list[LoggedRequest] = []
        self.records: dict[str, dict[str, dict[str, Any]]] = {
            name: {} for name in ("Lead", "Contact", "Account")
        }
        # (SystemModstamp, Id) of every stamping, sorted: the org's SystemModstamp index.
        self._stamp_index: list[tuple[str, str]] = []
        # Email -> ids of leads and contacts that have had it, as a real org indexes
        # Email on both. Append-only like the stamp index: a query re-checks its filter.
        self._email_index: dict[str, list[str]] = {}
        self.daily_limit = daily_limit
        self.api_usage = 0
        self.min_version = min_version
        self.max_version = max_version
        self.instance_url = instance_url
        self.server_page_limit: int | None = None
        """Test knob: serve at most this many rows per query page, whatever batchSize says."""
        self.replication_id_limit = 600_000
        self.duplicate_rule: Literal["alert", "block"] | None = None
        self.validation_rules: list[ValidationRule] = []
        self.org_id = to_18(org_id)
        self.user_id = to_18("0055e000003XyZw")
        self.token_requests = 0
        self._apps: dict[str, _App] = {}
        self._refresh_tokens: dict[str, _Session] = {}
        self._sessions: dict[str, _Session] = {}
        self._locators: dict[str, _Locator] = {}
        self._ids = IdMinter()
        self._lock = threading.RLock()
        self._started = self.clock.now()

    # -- configuration ---------------------------------------------------------------------
    def register_app(
        self,
        client_id: str,
        *,
        client_secret: str | None = None,
        public_key: str | bytes | None = None,
        users: Iterable[str] = ("integration@example.com",),
        run_as: str | None = "integration@example.com",
        rotate_refresh_tokens: bool = False,
    ) -> None:
        """A connected app: JWT assertions are verified with ``public_key`` (PEM) if
        given; ``run_as`` enables the client-credentials flow; with
        ``rotate_refresh_tokens`` every refresh answers a new refresh token and revokes
        the one it used (the app setting Salesforce recommends)."""
        key = None
        if public_key is not None:
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            key = load_pem_public_key(
                public_key if isinstance(public_key, bytes) else public_key.encode()
            )
        self._apps[client_id] = _App(
            client_id, client_secret, key, set(users), run_as, rotate_refresh_tokens
        )

    def issue_refresh_token(self, client_id: str, username: str) -> str:
        """A refresh token, as an interactive web-server flow would have handed out."""
        token = "5Aep" + secrets.token_urlsafe(40)
        self._refresh_tokens[token] = _Session(client_id, username)
        return token

    def expire_sessions(self) -> None:
        """Invalidate every access token: the next data call answers 401 until re-auth."""
        with self._lock:
            self._sessions.clear()

    def add_validation_rule(
        self,
        object_name: str,
        failing: Callable[[Mapping[str, Any]], bool],
        message: str,
        field: str | None = None,
    ) -> None:
        """Refuse saves where ``failing(record)`` is true (FIELD_CUSTOM_VALIDATION_EXCEPTION)."""
        self.validation_rules.append(ValidationRule(object_name, failing, message, field))

    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering in-process through :meth:`handle`."""
        return httpx.MockTransport(self.handle)

    # -- test actions ----------------------------------------------------------------------
    def seed(
        self,
        object_name: str,
        records: Iterable[Mapping[str, Any]] = (),
        *,
        count: int = 0,
    ) -> list[str]:
        """Insert records directly (validated like an API create); ``count`` generates
        leads or contacts named ``Seed{n}``. Returns the new ids."""
        rows = list(records) + [
            {
                "FirstName": "Seed",
                "LastName": f"Seed{n}",
                "Company": "Seed Co",
                "Email": f"seed{n}@example.com",
            }
            for n in range(count)
        ]
        schema = self._schema(object_name)
        ids = []
        with self._lock:
            for row in rows:
                values = dict(row)
                if schema.name != "Lead":
                    values.pop("Company", None)
                result = self._create(schema, values, stage=None, headers={})
                if not result.get("success"):
                    raise ValueError(f"seed refused: {result['errors']}")
                ids.append(result["id"])
        return ids

    def get(self, object_name: str, record_id: str) -> dict[str, Any]:
        """A copy of a stored record (wire format), deleted or not."""
        return dict(self.records[self._schema(object_name).name][to_18(record_id)])

    def touch(self, object_name: str, record_id: str, **values: Any) -> None:
        """Change fields as a user in the CRM would (bumps SystemModstamp)."""
        with self._lock:
            schema = self._schema(object_name)
            record = self.records[schema.name][to_18(record_id)]
            record.update(values)
            apply_computed(schema, record)
            self._stamp(record)

    def convert_lead(self, lead_id: str) -> str:
        """Convert a lead: a new Account and Contact; returns the contact id."""
        with self._lock:
            lead = self.records["Lead"][to_18(lead_id)]
            if lead["IsConverted"] or lead["IsDeleted"]:
                raise ValueError("lead is already converted or deleted")
            account = self._create(SCHEMAS["account"], {"Name": lead["Company"]}, None, {})
            contact = self._create(
                SCHEMAS["contact"],
                {
                    "FirstName": lead.get("FirstName"),
                    "LastName": lead["LastName"],
                    "Email": lead.get("Email"),
                    "Phone": lead.get("Phone"),
                    "AccountId": account["id"],
                    "LeadSource": lead.get("LeadSource"),
                    "HasOptedOutOfEmail": lead.get("HasOptedOutOfEmail", False),
                },
                None,
                {},
            )
            lead.update(
                {
                    "IsConverted": True,
                    "ConvertedAccountId": account["id"],
                    "ConvertedContactId": contact["id"],
                    "Status": "Closed - Converted",
                    "ConvertedDate": self.clock.now().date().isoformat(),
                }
            )
            self._stamp(lead)
            return str(contact["id"])

    def merge(self, survivor_id: str, loser_ids: Iterable[str]) -> None:
        """Merge up to two records into ``survivor_id`` (same object)."""
        with self._lock:
            survivor_id = to_18(survivor_id)
            schema = self._schema_of(survivor_id)
            losers = [to_18(i) for i in loser_ids]
            if not 1 <= len(losers) <= 2:
                raise ValueError("merge takes one or two losers (three records at most)")
            table = self.records[schema.name]
            for loser in losers:
                if loser not in table or table[loser]["IsDeleted"] or loser == survivor_id:
                    raise ValueError(f"cannot merge {loser}")
            for loser in losers:
                table[loser]["IsDeleted"] = True
                table[loser]["MasterRecordId"] = survivor_id
                self._stamp(table[loser])
            self._stamp(table[survivor_id])

    def delete(self, object_name: str, record_id: str) -> None:
        """Soft-delete a record to the Recycle Bin (visible to queryAll)."""
        with self._lock:
            record = self.records[self._schema(object_name).name][to_18(record_id)]
            record["IsDeleted"] = True
            self._stamp(record)

    def calls(self, method: str | None = None, path_contains: str = "") -> list[LoggedRequest]:
        """Logged requests filtered by method and path fragment."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and path_contains in r.path
        ]

    # -- the HTTP surface ------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as Salesforce would."""
        body = request.read()
        try:
            reply = self._dispatch(request, body)
        except _Drop:
            self._log(request, body, 0)
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        except _LostAnswer as lost:
            self._log(request, body, 0)
            if lost.kind == "slow":
                raise httpx.ReadTimeout("timed out", request=request) from None
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        headers = {"Content-Type": _JSON, **reply.headers}
        if reply.raw is not None:
            content = reply.raw
        elif reply.body is None:
            content = b""
            headers.pop("Content-Type")
        else:
            content = json.dumps(reply.body).encode()
        self._log(request, body, reply.status)
        return httpx.Response(reply.status, headers=headers, content=content)

    def _log(self, request: httpx.Request, body: bytes, status: int) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if "authorization" in headers:
            scheme = headers["authorization"].partition(" ")[0] or "Bearer"
            headers["authorization"] = f"{scheme} ***"
        if request.url.path.rstrip("/").endswith("/oauth2/token"):
            body = _redact_form(body)
        entry = LoggedRequest(
            request.method,
            request.url.path,
            dict(request.url.params),
            headers,
            len(body),
            body,
            status,
        )
        with self._lock:
            self.requests.append(entry)

    def _usage_header(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.api_usage}/{self.daily_limit}"}

    def _error(self, status: int, code: str, message: str, **extra: Any) -> _Reply:
        return _Reply(
            status,
            [{"message": message, "errorCode": code, **extra}],
            self._usage_header(),
        )

    def _dispatch(self, request: httpx.Request, body: bytes) -> _Reply:
        path = request.url.path
        method = request.method
        if path.rstrip("/") == "/services/oauth2/token":
            if method != "POST":
                return _Reply(
                    405,
                    [
                        {
                            "errorCode": "METHOD_NOT_ALLOWED",
                            "message": "HTTP Method 'GET' not allowed. Allowed are POST",
                        }
                    ],
                )
            fault = self.faults.take(path) if self._targets_token() else None
            if fault is not None:
                early = self._fire(fault, request)
                if early is not None:
                    return early
            return self._token(request, body)
        if path.rstrip("/") == "/services/data" and method == "GET":
            return _Reply(
                200,
                [
                    {
                        "label": _release_label(v),
                        "url": f"/services/data/v{v}.0",
                        "version": f"{v}.0",
                    }
                    for v in range(self.min_version, self.max_version + 1)
                ],
            )
        match = _VERSION_PATH.match(path)
        if match is None:
            return _Reply(
                404,
                [
                    {
                        "errorCode": "NOT_FOUND",
                        "message": "The requested resource does not exist",
                    }
                ],
            )
        major, minor = int(match.group(1)), int(match.group(2))
        version = f"v{major}.{minor}"
        if major < self.min_version:
            return _Reply(
                410,
                [
                    {
                        "errorCode": "GONE",
                        "message": f"API version {major}.{minor} "
                        "is retired and no longer available",
                    }
                ],
            )
        if major > self.max_version or minor != 0:
            return _Reply(
                404,
                [
                    {
                        "errorCode": "NOT_FOUND",
                        "message": "The requested resource does not exist",
                    }
                ],
            )
        token = request.headers.get("Authorization", "")
        with self._lock:
            session = self._sessions.get(token[7:]) if token.startswith("Bearer ") else None
        if session is None:
            return _Reply(
                401,
                [
                    {
                        "message": "Session expired or invalid",
                        "errorCode": "INVALID_SESSION_ID",
                    }
                ],
            )
        with self._lock:
            if self.api_usage >= self.daily_limit:
                return self._error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.api_usage += 1
        rest = (match.group(3) or "").rstrip("/")
        write = method in {"POST", "PATCH"} and rest.startswith("composite/sobjects")
        fault = self.faults.take(path, write=write)
        item_lock = False
        lost_answer: str | None = None
        if fault is not None:
            if fault.kind == "expired_session":
                with self._lock:
                    self._sessions.pop(token[7:], None)
                return _Reply(
                    401,
                    [
                        {
                            "message": "Session expired or invalid",
                            "errorCode": "INVALID_SESSION_ID",
                        }
                    ],
                )
            if fault.kind == "row_lock" and fault.options.get("mode", "item") == "item":
                item_lock = True
            elif fault.options.get("after_commit"):
                lost_answer = fault.kind
            else:
                early = self._fire(fault, request)
                if early is not None:
                    return early
        if len(str(request.url)) > _MAX_URI:
            return _Reply(
                414,
                raw=b"<html><body>414 Request-URI Too Long</body></html>",
                headers={"Content-Type": "text/html"},
            )
        try:
            with self._lock:
                reply = self._route(method, rest, request, body, version, item_lock)
        except RequestError as error:
            reply = _Reply(error.status, error.body(), self._usage_header())
        except SoqlError as error:
            reply = self._error(400, error.code, error.message)
        if lost_answer is not None:  # carried out; only the answer goes astray
            raise _LostAnswer(lost_answer)
        return reply

    def _targets_token(self) -> bool:
        return any(
            f.path_contains is not None and f.path_contains in "/services/oauth2/token"
            for f in self.faults._armed
        )

    def _fire(self, fault: Any, request: httpx.Request) -> _Reply | None:
        options = fault.options
        if fault.kind == "rate_limit":
            status = int(options.get("status", 403))
            headers = self._usage_header()
            retry_after = options.get("retry_after", 30 if status == 429 else None)
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            if status == 429:
                return _Reply(
                    429,
                    [
                        {
                            "message": "Too many requests",
                            "errorCode": "REQUEST_LIMIT_EXCEEDED",
                        }
                    ],
                    headers,
                )
            return _Reply(
                403,
                [
                    {
                        "message": "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
                        "errorCode": "REQUEST_LIMIT_EXCEEDED",
                    }
                ],
                headers,
            )
        if fault.kind == "server_error":
            status = int(options.get("status", 500))
            if status == 503:
                return self._error(503, "SERVER_UNAVAILABLE", "Server unavailable, try again")
            if status in {502, 504}:
                return _Reply(
                    status,
                    raw=b"<html><body>Bad gateway</body></html>",
                    headers={"Content-Type": "text/html"},
                )
            return self._error(
                status,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. "
                "Please include this ErrorId if you contact support: "
                "1234567890-12345 (-1234567890)",
            )
        if fault.kind == "dropped_connection":
            raise _Drop
        if fault.kind == "slow":
            if options.get("timeout"):
                raise httpx.ReadTimeout("timed out", request=request)
            time.sleep(float(options.get("delay", 1.0)))
            return None
        if fault.kind == "bad_request":
            return self._error(
                int(options.get("status", 400)),
                str(options.get("code", "INVALID_OPERATION")),
                str(options.get("message", "The requested operation is not allowed")),
            )
        if fault.kind == "row_lock":
            return self._error(
                400,
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record or 1 records: " + self.user_id,
                fields=[],
            )
        return None

    # -- OAuth -------------------------------------------------------------------------------
    def _token(self, request: httpx.Request, body: bytes) -> _Reply:
        self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            form.setdefault("client_id", client_id)
            form.setdefault("client_secret", secret)
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        grant = form.get("grant_type")

        def fail(error: str, description: str) -> _Reply:
            return _Reply(400, {"error": error, "error_description": description})

        if grant == _JWT_GRANT:
            assertion = form.get("assertion", "")
            try:
                claims = jwt.decode(assertion, options={"verify_signature": False})
            except jwt.PyJWTError:
                return fail("invalid_grant", "invalid assertion")
            app = self._apps.get(str(claims.get("iss")))
            if app is None:
                return fail("invalid_client_id", "client identifier invalid")
            audiences = [
                origin,
                "https://login.salesforce.com",
                "https://test.salesforce.com",
            ]
            try:
                if app.public_key is not None:
                    claims = jwt.decode(
                        assertion,
                        app.public_key,
                        algorithms=["RS256"],
                        audience=audiences,
                        options={"require": ["exp", "iss", "sub", "aud"]},
                    )
                else:
                    claims = jwt.decode(
                        assertion,
                        options={
                            "verify_signature": False,
                            "verify_aud": True,
                            "verify_exp": True,
                            "require": ["exp", "iss", "sub", "aud"],
                        },
                        audience=audiences,
                    )
            except jwt.ExpiredSignatureError:
                return fail("invalid_grant", "expired authorization code")
            except jwt.InvalidAudienceError:
                return fail("invalid_grant", "audience is invalid")
            except jwt.PyJWTError:
                return fail("invalid_grant", "invalid assertion")
            if claims["sub"] not in app.users:
                return fail("invalid_grant", "user hasn't approved this consumer")
            return self._grant(origin, app.client_id, claims["sub"], jwt_flow=True)
        if grant == "client_credentials":
            app = self._apps.get(form.get("client_id", ""))
            if app is None:
                return fail("invalid_client_id", "client identifier invalid")
            if app.client_secret is None or form.get("client_secret") != app.client_secret:
                return fail("invalid_client", "invalid client credentials")
            if app.run_as is None:
                return fail("invalid_grant", "no client credentials user enabled")
            return self._grant(origin, app.client_id, app.run_as, jwt_flow=False)
        if grant == "refresh_token":
            app = self._apps.get(form.get("client_id", ""))
            if app is None:
                return fail("invalid_client_id", "client identifier invalid")
            if "client_secret" in form and form["client_secret"] != app.client_secret:
                return fail("invalid_client", "invalid client credentials")
            used = form.get("refresh_token", "")
            known = self._refresh_tokens.get(used)
            if known is None or known.client_id != app.client_id:
                return fail("invalid_grant", "expired access/refresh token")
            reply = self._grant(origin, app.client_id, known.username, jwt_flow=False)
            if app.rotate_refresh_tokens:
                del self._refresh_tokens[used]
                assert isinstance(reply.body, dict)
                reply.body["refresh_token"] = self.issue_refresh_token(
                    app.client_id, known.username
                )
            return reply
        return fail("unsupported_grant_type", "grant type not supported")

    def _grant(self, origin: str, client_id: str, username: str, *, jwt_flow: bool) -> _Reply:
        token = f"{self.org_id[:15]}!AQ{secrets.token_urlsafe(48)}"
        with self._lock:
            self._sessions[token] = _Session(client_id, username)
        identity = f"{origin}/id/{self.org_id}/{self.user_id}"
        answer: dict[str, Any] = {
            "access_token": token,
            "instance_url": self.instance_url or origin,
            "id": identity,
            "token_type": "Bearer",
            "scope": "api",
        }
        if not jwt_flow:  # real JWT-bearer answers carry neither
            answer["issued_at"] = str(int(time.time() * 1000))
            answer["signature"] = base64.b64encode(secrets.token_bytes(32)).decode()
        return _Reply(200, answer)

    # -- routing -------------------------------------------------------------------------------
    def _route(
        self,
        method: str,
        rest: str,
        request: httpx.Request,
        body: bytes,
        version: str,
        item_lock: bool,
    ) -> _Reply:
        from crmsync_salesforce.emulator import _routes

        return _routes.route(self, method, rest, request, body, version, item_lock)

    # -- storage helpers (used by _routes) ------------------------------------------------------
    def _schema(self, object_name: str) -> ObjectSchema:
        schema = SCHEMAS.get(object_name.lower())
        if schema is None:
            raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")
        return schema

    def _schema_of(self, record_id: str) -> ObjectSchema:
        for name, prefix in KEY_PREFIXES.items():
            if record_id.startswith(prefix) and name.lower() in SCHEMAS:
                return SCHEMAS[name.lower()]
        raise ValueError(f"no object has key prefix {record_id[:3]}")

    def _stamp(self, record: dict[str, Any], *, created: bool = False) -> None:
        now = format_datetime(self.clock.now())
        record["SystemModstamp"] = now
        if "Id" in record:
            # Append-only: an entry whose record has since moved on (or whose staged
            # write rolled back) is filtered out when a query reads the index.
            bisect.insort(self._stamp_index, (now, record["Id"]))
            email = record.get("Email")
            if email:
                ids = self._email_index.setdefault(email_key(email), [])
                if record["Id"] not in ids:
                    ids.append(record["Id"])
        record["LastModifiedDate"] = now
        if created:
            record["CreatedDate"] = now

    def _duplicate(
        self,
        schema: ObjectSchema,
        merged: Mapping[str, Any],
        own_id: str | None,
        headers: Mapping[str, str],
    ) -> dict[str, Any] | None:
        if self.duplicate_rule is None or schema.name not in {"Lead", "Contact"}:
            return None
        email = (merged.get("Email") or "").strip().lower()
        if not email:
            return None
        matches = [
            (name, rid)
            for name in ("Lead", "Contact")
            for rid, rec in self.records[name].items()
            if rid != own_id
            and not rec["IsDeleted"]
            and (rec.get("Email") or "").strip().lower() == email
        ]
        if not matches:
            return None
        allow = "allowsave=true" in headers.get("sforce-duplicate-rule-header", "").lower()
        if self.duplicate_rule == "alert" and allow:
            return None
        return {
            "statusCode": "DUPLICATES_DETECTED",
            "message": "Use one of these records?",
            "fields": [],
            "duplicateResult": {
                "allowSave": self.duplicate_rule == "alert",
                "duplicateRule": f"Standard_{schema.name}_Duplicate_Rule",
                "duplicateRuleEntityType": schema.name,
                "errorMessage": "Use one of these records?",
                "matchResults": [
                    {
                        "entityType": name,
                        "errors": [],
                        "matchEngine": "FuzzyMatchEngine",
                        "matchRecords": [
                            {
                                "additionalInformation": [],
                                "fieldDiffs": [],
                                "matchConfidence": 100.0,
                                "record": {"attributes": {"type": name}, "Id": rid},
                            }
                        ],
                        "rule": f"Standard_{name}_Match_Rule_v1_0",
                        "size": 1,
                        "success": True,
                    }
                    for name, rid in matches
                ],
            },
        }

    def _create(
        self,
        schema: ObjectSchema,
        values: Mapping[str, Any],
        stage: dict[str, dict[str, Any]] | None,
        headers: Mapping[str, str],
        *,
        forbid_id: bool = True,
    ) -> dict[str, Any]:
        """Validate and (unless ``stage`` collects it) store one new record; item result."""
        coerced = coerce_values(schema, values)
        normalize_references(coerced)
        record: dict[str, Any] = {item.name: item.default for item in schema.fields.values()}
        record["IsDeleted"] = False
        record["OwnerId"] = self.user_id
        record.update({item.name: value for item, value in coerced.items()})
        errors = record_errors(schema, coerced, record, creating=True, rules=self.validation_rules)
        if not errors:
            duplicate = self._duplicate(schema, record, None, headers)
            if duplicate is not None:
                errors = [duplicate]
        if errors:
            return {"success": False, "errors": errors}
        record["Id"] = self._ids.mint(schema.name)
        apply_computed(schema, record)
        self._stamp(record, created=True)
        target = stage if stage is not None else self.records
        target.setdefault(schema.name, {})[record["Id"]] = record
        return {"id": record["Id"], "success": True, "errors": []}

    def _update(
        self,
        schema: ObjectSchema,
        record_id: str,
        values: Mapping[str, Any],
        stage: dict[str, dict[str, Any]] | None,
        headers: Mapping[str, str],
    ) -> dict[str, Any]:
        """Validate and apply an update; item result (``id`` kept, as Salesforce does)."""

        def failed(code: str, message: str) -> dict[str, Any]:
            return {
                "success": False,
                "errors": [{"statusCode": code, "message": message, "fields": []}],
            }

        if not is_valid_id(record_id) or not record_id.startswith(KEY_PREFIXES[schema.name]):
            return failed(
                "MALFORMED_ID",
                f"{schema.name} ID: id value of incorrect type: {record_id}",
            )
        rid = to_18(record_id)
        current = self.records[schema.name].get(rid)
        if current is None:
            return failed("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if current["IsDeleted"]:
            return failed("ENTITY_IS_DELETED", "entity is deleted")
        if schema.name == "Lead" and current["IsConverted"]:
            return failed("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        coerced = coerce_values(schema, values)
        normalize_references(coerced)
        merged = dict(current)
        merged.update({item.name: value for item, value in coerced.items()})
        errors = record_errors(schema, coerced, merged, creating=False, rules=self.validation_rules)
        if not errors and "Email" in {item.name for item in coerced}:
            duplicate = self._duplicate(schema, merged, rid, headers)
            if duplicate is not None:
                errors = [duplicate]
        if errors:
            return {"success": False, "errors": errors}
        apply_computed(schema, merged)
        self._stamp(merged)
        if stage is not None:
            stage.setdefault(schema.name, {})[rid] = merged
        else:
            current.clear()
            current.update(merged)
        return {"id": rid, "success": True, "errors": []}

    def _render(
        self,
        schema: ObjectSchema,
        record: Mapping[str, Any],
        names: Iterable[str],
        version: str,
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "attributes": {
                "type": schema.name,
                "url": f"/services/data/{version}/sobjects/{schema.name}/{record['Id']}",
            }
        }
        for name in names:
            row[name] = copy.copy(record.get(name))
        return row

    def _query_rows(self, soql: str, include_deleted: bool, version: str) -> list[dict[str, Any]]:
        query = parse(soql)
        table = self._candidates(query)
        rows = query.run(r for r in table if include_deleted or not r["IsDeleted"])
        names = [item.name for item in query.fields]
        return [self._render(query.schema, r, names, version) for r in rows]

    def _candidates(self, query: Any) -> Iterable[dict[str, Any]]:
        """Records a query may match: those with its Email values (every match-key
        lookup) from the Email index; for a filter with a least SystemModstamp (every
        change-feed query) those from the stamp index; otherwise all of them. A real
        org has both indexes, so lookups and feed reads cost what they return, not the
        size of the org; the query's own filter still decides."""
        table = self.records[query.schema.name]
        emails = query.email_keys
        if emails is not None:  # a match-key lookup: answered from the Email index
            by_email: dict[str, dict[str, Any]] = {}
            for key in emails:
                for rid in self._email_index.get(key, ()):
                    record = table.get(rid)
                    if record is not None:
                        by_email[rid] = record
            return by_email.values()
        bound = query.stamp_bound
        if bound is None:
            return table.values()
        moment, after_id = bound
        # Truncated to the second, the bound can only admit more than the filter does
        # (the index holds milliseconds; the filter still decides).
        low = (format_datetime(moment.replace(microsecond=0)), after_id)
        start = bisect.bisect_right(self._stamp_index, low)
        found: dict[str, dict[str, Any]] = {}
        for _, rid in self._stamp_index[start:]:
            record = table.get(rid)
            # An entry whose record has moved on is stale: it is found again later.
            if record is not None and (record["SystemModstamp"], rid) > low:
                found[rid] = record
        return found.values()

    def _page(
        self,
        rows: list[dict[str, Any]],
        offset: int,
        batch: int,
        locator: str | None,
        version: str,
    ) -> _Reply:
        size = batch if self.server_page_limit is None else min(batch, self.server_page_limit)
        chunk = rows[offset : offset + size]
        end = offset + len(chunk)
        answer: dict[str, Any] = {
            "totalSize": len(rows),
            "done": end >= len(rows),
            "records": chunk,
        }
        if end < len(rows):
            if locator is None:
                locator = "0r8" + secrets.token_hex(8)[:15]
                self._locators[locator] = _Locator(rows, batch)
            answer["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{end}"
        return _Reply(200, answer, self._usage_header())

    @staticmethod
    def _batch_size(request: httpx.Request) -> int:
        options = request.headers.get("Sforce-Query-Options", "")
        match = re.search(r"batchSize\s*=\s*(\d+)", options)
        if match is None:
            return 2000
        return max(200, min(2000, int(match.group(1))))

    @staticmethod
    def _parse_window(value: str | None) -> dt.datetime:
        if not value:
            raise RequestError(400, "MISSING_ARGUMENT", "start and end are required")
        try:
            return parse_datetime(value)
        except ValueError:
            raise RequestError(400, "INVALID_REPLICATION_DATE", f"invalid date: {value}") from None
