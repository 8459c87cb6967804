"""The emulated org and its REST surface: ``SalesforceEmulator.handle(request) -> response``."""

from __future__ import annotations

import base64
import bisect
import copy
import datetime as dt
import functools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from crmsync.testing.emulator import (
    JWT_BEARER_GRANT,
    EmulatorClock,
    LoggedRequest,
    OAuthClient,
    OAuthTokenEndpoint,
    RequestLog,
)
from crmsync_salesforce.emulator._checks import (
    duplicate_rule_error,
    reference_problem,
    unique_errors,
)
from crmsync_salesforce.emulator._faults import (
    SalesforceFaults,
    _Drop,
    _LostAnswer,
    _Reply,
    fire,
)
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
_MAX_URI = 16_384  # URI + headers, in bytes (fact sheet, section 7): 414 / 431 beyond
# Since API 56.0 a query's results live two days (fact sheet, section 4).
LOCATOR_LIFETIME = dt.timedelta(days=2)


def _release_label(major: int) -> str:
    k = major - 59  # Winter '24 is v59.0; three releases a year
    return f"{_SEASONS[k % 3]} '{(24 + k // 3) % 100:02d}"


class SalesforceTokens(OAuthTokenEndpoint):
    """The org's token endpoint on the kit's: Salesforce's error codes (400 for every
    refusal, ``invalid_client_id`` for an unknown app), no ``expires_in``, and the
    answer's ``instance_url``, ``id`` and (except for JWT bearer) ``issued_at`` and
    ``signature`` (fact sheet, section 1)."""

    unknown_client_error = "invalid_client_id"
    bad_secret_status = 400

    def __init__(self, org: SalesforceEmulator) -> None:
        super().__init__(
            org.clock,
            lifetime=None,
            audiences=("https://login.salesforce.com", "https://test.salesforce.com"),
            token_prefix=f"{org.org_id[:15]}!AQ",
        )
        self.org = org

    def token_answer(
        self,
        request: httpx.Request,
        client: OAuthClient,
        token: str,
        scope: str | None,
        grant: str,
    ) -> dict[str, Any]:
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        answer: dict[str, Any] = {
            "access_token": token,
            "instance_url": self.org.instance_url or origin,
            "id": f"{origin}/id/{self.org.org_id}/{self.org.user_id}",
            "token_type": "Bearer",
            "scope": "api",
        }
        if grant != JWT_BEARER_GRANT:  # real JWT-bearer answers carry neither
            answer["issued_at"] = str(int(time.time() * 1000))
            answer["signature"] = base64.b64encode(secrets.token_bytes(32)).decode()
        return answer


@dataclass
class _Locator:
    rows: list[dict[str, Any]]
    batch: int
    created: dt.datetime


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
        self.clock = EmulatorClock(resolution="second")  # SystemModstamp counts seconds
        self.faults = SalesforceFaults()
        self.log = RequestLog()
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
        self.oauth = SalesforceTokens(self)
        self._locators: dict[str, _Locator] = {}
        self._ids = IdMinter()
        self._lock = threading.RLock()
        self.users: set[str] = {self.user_id}
        """Ids of the org's users: what an ``OwnerId`` may name."""
        # Records purged from the Recycle Bin: (id, deletedDate) per object, which only
        # getDeleted still reports; and when each object's delete log was last truncated.
        self._purged: dict[str, list[tuple[str, str]]] = {name: [] for name in self.records}
        self._delete_log_start: dict[str, dt.datetime] = {}

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
        self.oauth.register_client(
            client_id,
            secret=client_secret,
            public_key=public_key,
            users=users,
            run_as=run_as,
            rotate_refresh_tokens=rotate_refresh_tokens,
        )

    def issue_refresh_token(self, client_id: str, username: str) -> str:
        """A refresh token, as an interactive web-server flow would have handed out."""
        return self.oauth.issue_refresh_token(client_id, username)

    def expire_sessions(self) -> None:
        """Invalidate every access token: the next data call answers 401 until re-auth."""
        self.oauth.expire_all()

    @property
    def token_requests(self) -> int:
        """How many token requests the org answered."""
        return self.oauth.requests

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

    def add_user(self) -> str:
        """A new active user of the org (an ``OwnerId`` a write may name); its id."""
        with self._lock:
            user = self._ids.mint("User")
            self.users.add(user)
            return user

    def purge_recycle_bin(
        self, object_name: str | None = None, *, forget_deletions: bool = False
    ) -> list[str]:
        """Empty the Recycle Bin, as ``emptyRecycleBin`` or the 15-day (or capacity)
        purge does: deleted records and merge losers vanish from ``queryAll``, a GET
        answers 404 ``NOT_FOUND`` and an update ``INVALID_CROSS_REFERENCE_KEY``; only
        getDeleted still lists them. ``forget_deletions`` truncates the delete log as
        well: getDeleted forgets them and its ``earliestDateAvailable`` moves to now.
        Returns the purged ids."""
        with self._lock:
            names = [self._schema(object_name).name] if object_name else list(self.records)
            purged: list[str] = []
            for name in names:
                table = self.records[name]
                gone = [rid for rid, record in table.items() if record["IsDeleted"]]
                for rid in gone:
                    self._purged[name].append((rid, table.pop(rid)["SystemModstamp"]))
                purged.extend(gone)
                if forget_deletions:
                    self._purged[name].clear()
                    self._delete_log_start[name] = self.clock.now()
            return purged

    def expire_query_locators(self) -> None:
        """Make every open ``nextRecordsUrl`` stale (``INVALID_QUERY_LOCATOR``), as two
        days without reading it would."""
        with self._lock:
            self._locators.clear()

    def deleted_log(self, object_name: str) -> list[tuple[str, str]]:
        """``(id, deletedDate)`` of every deletion getDeleted still reports (soft-deleted
        and purged), oldest first."""
        name = self._schema(object_name).name
        with self._lock:
            entries = [
                (rid, record["SystemModstamp"])
                for rid, record in self.records[name].items()
                if record["IsDeleted"]
            ]
            entries.extend(self._purged[name])
        return sorted(entries, key=lambda entry: (entry[1], entry[0]))

    def earliest_date_available(self, object_name: str, window: dt.timedelta) -> dt.datetime:
        """getDeleted's ``earliestDateAvailable``: the window's start on the org's clock,
        or when the delete log was last truncated if that is later."""
        start = self.clock.now() - window
        truncated = self._delete_log_start.get(self._schema(object_name).name)
        if truncated is not None and truncated > start:
            start = truncated
        return start.replace(second=0, microsecond=0)

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request answered so far (secrets redacted)."""
        return list(self.log)

    def calls(self, method: str | None = None, path_contains: str = "") -> list[LoggedRequest]:
        """Logged requests filtered by method and path fragment."""
        return self.log.calls(method, path_contains)

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
        headers = {"Content-Type": _JSON, "Date": self.clock.http_date(), **reply.headers}
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
        self.log.record(request, body, status)

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
            fault = self.faults.take(path, method=method, explicit=True)
            if fault is not None:
                early = fire(self, fault, request)
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
        if self.oauth.validate(token) is None:
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
        fault = self.faults.take(path, method=method, write=write)
        item_lock = False
        lost_answer: str | None = None
        if fault is not None:
            if fault.name == "expired":
                self.oauth.revoke(token[7:])
                return _Reply(
                    401,
                    [
                        {
                            "message": "Session expired or invalid",
                            "errorCode": "INVALID_SESSION_ID",
                        }
                    ],
                )
            if fault.name == "row_lock" and fault.options.get("mode", "item") == "item":
                item_lock = True
            elif fault.options.get("after_commit"):
                lost_answer = fault.name
            else:
                early = fire(self, fault, request)
                if early is not None:
                    return early
        uri = len(str(request.url).encode())
        if uri > _MAX_URI:
            return _Reply(
                414,
                raw=b"<html><body>414 Request-URI Too Long</body></html>",
                headers={"Content-Type": "text/html"},
            )
        header_bytes = sum(len(name) + len(value) + 4 for name, value in request.headers.raw)
        if uri + header_bytes > _MAX_URI:
            return _Reply(
                431,
                raw=b"<html><body>431 Request Header Fields Too Large</body></html>",
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

    # -- OAuth -------------------------------------------------------------------------------
    def _token(self, request: httpx.Request, body: bytes) -> _Reply:
        answer = self.oauth.handle(request)
        return _Reply(answer.status_code, answer.json())

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
        errors = record_errors(
            schema,
            coerced,
            record,
            creating=True,
            rules=self.validation_rules,
            references=functools.partial(reference_problem, self),
        )
        if not errors:
            errors = unique_errors(self, schema, coerced, None, stage)
        if not errors:
            duplicate = duplicate_rule_error(self, schema, record, None, headers)
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
        errors = record_errors(
            schema,
            coerced,
            merged,
            creating=False,
            rules=self.validation_rules,
            references=functools.partial(reference_problem, self),
        )
        if not errors:
            errors = unique_errors(self, schema, coerced, rid, stage)
        if not errors and "Email" in {item.name for item in coerced}:
            duplicate = duplicate_rule_error(self, schema, merged, rid, headers)
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
        """Records a query may match: those with its Ids from the primary key (a
        lookup by id); those with its Email values (every match-key lookup) from the
        Email index; for a filter with a least SystemModstamp (every
        change-feed query) those from the stamp index; otherwise all of them. A real
        org has both indexes, so lookups and feed reads cost what they return, not the
        size of the org; the query's own filter still decides."""
        table = self.records[query.schema.name]
        ids = query.id_keys
        if ids is not None:  # a lookup by id: answered from the primary key
            by_id: dict[str, dict[str, Any]] = {}
            for value in ids:
                record = table.get(to_18(value)) if is_valid_id(value) else None
                if record is not None:
                    by_id[record["Id"]] = record
            return by_id.values()
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
                self._locators[locator] = _Locator(rows, batch, self.clock.now())
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
