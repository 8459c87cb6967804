"""``AutotaskEmulator``: a strict, in-memory Autotask PSA REST API (Contacts,
Companies).

Built to the fact sheet's section 9 checklist: header auth, unauthenticated zone and
version discovery, POST/GET queries with keyset pages, ``IncludeFields`` and counts,
single-record writes through the parent URL, HTTP 500 ``{"errors": [...]}`` for
validation, 404/405 routing answers, the rolling hourly threshold and the thread limit.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from crmsync.testing.emulator import (
    ArmedFault,
    EmulatorClock,
    FaultQueue,
    LoggedRequest,
    RequestLog,
)
from crmsync_autotask.emulator._answers import Answer as _Answer
from crmsync_autotask.emulator._answers import bad_verb as _bad_verb
from crmsync_autotask.emulator._answers import errors as _errors
from crmsync_autotask.emulator._answers import json_response as _json
from crmsync_autotask.emulator._answers import no_route as _no_route
from crmsync_autotask.emulator._query import QueryError, body_key, compile_filter
from crmsync_autotask.emulator._schema import EntitySchema, fresh_schemas
from crmsync_autotask.emulator._validation import typed, udf_values, validate

__all__ = ["ApiUser", "AutotaskEmulator"]

THREAD_LIMIT = 3
FAULT_ALIASES = {
    "thread_limit": "rate_limit",
    "server_error": "transient",
    "validation": "permanent",
    "zone_move": "expired",
}
FAULTS_DOC = """Faults (``emulator.faults.inject(name, count=1, path_contains=None, method=None,
**options)``), in the contract kit's names with Autotask's renderings:

* ``rate_limit`` (alias ``thread_limit``): 429 ``Itgenatr005`` thread-limit text
  (``status`` configurable).
* ``hourly_limit``: 429 for the tenant's spent rolling-hour threshold
  (``retry_after`` adds a ``Retry-After`` header).
* ``transient`` (alias ``server_error``): 500/503 ``{"Message": "An error has
  occurred."}``, no ``errors`` list.
* ``permanent`` (alias ``validation``): 500 ``{"errors": [message]}``.
* ``expired`` (alias ``zone_move``): the tenant moves to zone ``to`` (default +1);
  this request and every later one on the old host answer 401.
* ``slow`` / ``dropped_connection`` (``after_commit``, ``timeout``, ``delay``).
"""
DISCOVERY = "webservices"
OWNER_RESOURCE = 29682885
RESOURCES = {OWNER_RESOURCE, 29682886}
_NO_MATCH = (
    "No matching records found. The logged in Resource may not have the required "
    "permissions to {verb} the data."
)



@dataclass
class ApiUser:
    """An API-only user: username, secret, and the integration code it is used with."""

    username: str
    secret: str
    restricted: bool = False


class AutotaskEmulator:
    """One Autotask tenant in one zone.

    ``emulator.transport()`` serves it in-process; hosts ``webservices.autotask.net``
    (discovery) and ``webservices<zone>.autotask.net`` (the tenant's zone) are answered.
    Served on a loopback port (:mod:`crmsync_autotask.emulator._server`), the zone is a
    path prefix: ``http://127.0.0.1:<port>/zone<zone>/ATServicesRest/``.
    """

    def __init__(
        self,
        *,
        zone: int = 15,
        threshold: int = 10_000,
        date_style: Literal["z", "bare"] = "z",
        udf_listing: Literal["all", "set"] = "all",
        missing_item: Literal["null", "404"] = "null",
        versions: tuple[str, ...] = ("V1.0",),
        usage_latency: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.zone = zone
        self.ci = 80431
        self.threshold = threshold
        self.date_style = date_style
        self.udf_listing = udf_listing
        self.missing_item = missing_item
        self.versions = versions
        # Autotask slows answers as the hourly usage nears the threshold (about 0.5 s
        # from half of it, 1 s from three quarters: breakpoints unconfirmed).
        self.usage_latency = usage_latency
        self.sleep = sleep
        self.clock = EmulatorClock(resolution="millisecond")
        self.faults = FaultQueue(extra=("hourly_limit",), aliases=FAULT_ALIASES)
        self.log = RequestLog(secret_headers=("secret", "apiintegrationcode"))
        self.schemas: dict[str, EntitySchema] = fresh_schemas()
        self.records: dict[str, dict[int, dict[str, Any]]] = {k: {} for k in self.schemas}
        self.users: dict[str, ApiUser] = {}
        self.integration_codes: set[str] = set()
        self.gate: threading.Event | None = None
        self.max_in_flight: Counter[tuple[str, str]] = Counter()
        self._in_flight: Counter[tuple[str, str]] = Counter()
        self._hour: deque[dt.datetime] = deque()
        self._lock = threading.RLock()
        self._next_id = {"contacts": 30684100, "companies": 29683500}
        self._default_company: int | None = None
        root = self._new("companies", {"companyName": "Emulated MSP (own company)"})
        self.records["companies"][0] = {**root, "id": 0}
        del self.records["companies"][root["id"]]

    # -- set-up ------------------------------------------------------------------------
    def add_api_user(
        self, username: str, secret: str, integration_code: str, *, restricted: bool = False
    ) -> None:
        """An API-only user and the integration code (tracking identifier) it calls with."""
        self.users[username.lower()] = ApiUser(username, secret, restricted)
        self.integration_codes.add(integration_code)

    def set_secret(self, username: str, secret: str) -> None:
        self.users[username.lower()].secret = secret

    def move_zone(self, zone: int) -> None:
        """The tenant moves: its old zone host answers 401 from now on."""
        self.zone = zone

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # -- control API -------------------------------------------------------------------
    def seed(self, entity: str, records: list[dict[str, Any]]) -> list[str]:
        """Create records directly (no validation beyond types), stamped now. A contact
        without ``companyID`` gets the emulator's default prospect company."""
        key = entity.lower()
        ids = []
        with self._lock:
            for values in records:
                values = dict(values)
                if key == "contacts":
                    values.setdefault("companyID", self.default_company())
                    values.setdefault("isActive", 1)
                    values.setdefault("firstName", "")
                if key == "companies":
                    values.setdefault("companyType", 3)
                    values.setdefault("ownerResourceID", OWNER_RESOURCE)
                    values.setdefault("phone", "555-0100")
                    values.setdefault("isActive", True)
                record = self._new(key, values)
                ids.append(str(record["id"]))
        return ids

    def default_company(self) -> int:
        with self._lock:
            if self._default_company is None:
                made = self._new(
                    "companies",
                    {
                        "companyName": "Emulated Prospects Inc.",
                        "companyType": 3,
                        "ownerResourceID": OWNER_RESOURCE,
                        "phone": "555-0100",
                        "isActive": True,
                    },
                )
                self._default_company = int(made["id"])
            return self._default_company

    def edit(self, entity: str, record_id: str | int, values: dict[str, Any]) -> None:
        """An edit by a user in the Autotask UI, stamped with the emulator's clock."""
        key = entity.lower()
        with self._lock:
            record = self.records[key][int(record_id)]
            schema = self.schemas[key]
            for name, value in values.items():
                # A UDF by its name, or as the connector calls it ("udf:<name>").
                udf = schema.udf(name[4:] if name.lower().startswith("udf:") else name)
                if udf is not None:
                    record["userDefinedFields"][udf.name] = value
                    continue
                spec = schema.field(name)
                if spec is None:
                    raise KeyError(f"{entity} has no field {name!r}")
                record[spec.name] = value
            record[schema.modified_field] = self.clock.now()

    def delete(self, entity: str, record_id: str | int) -> None:
        """A record deleted in the UI: it simply vanishes (no tombstone)."""
        with self._lock:
            del self.records[entity.lower()][int(record_id)]

    def get(self, entity: str, record_id: str | int) -> dict[str, Any] | None:
        """The record as the API renders it, or ``None``."""
        key = entity.lower()
        with self._lock:
            found = self.records[key].get(int(record_id))
            return None if found is None else self._render(key, found)

    def calls(self, method: str | None = None, contains: str = "") -> list[LoggedRequest]:
        """Logged requests by method and path fragment (case-insensitive)."""
        return [
            r
            for r in self.log
            if (method is None or r.method == method) and contains.lower() in r.path.lower()
        ]

    def _new(self, key: str, values: dict[str, Any]) -> dict[str, Any]:
        schema = self.schemas[key]
        now = self.clock.now()
        record: dict[str, Any] = {}
        for spec in schema.fields:
            # Unset text comes back as null or "" inconsistently, as a real tenant does.
            record[spec.name] = "" if spec.name in {"city", "companyNumber", "extension"} else None
        record["userDefinedFields"] = {u.name: None for u in schema.udfs}
        for name, value in values.items():
            if name == "userDefinedFields":
                for entry in value:
                    record["userDefinedFields"][entry["name"]] = entry.get("value")
                continue
            found = None if name.lower().startswith("udf:") else schema.field(name)
            if found is None:
                udf = schema.udf(name[4:] if name.lower().startswith("udf:") else name)
                if udf is None:
                    raise KeyError(f"{schema.name} has no field {name!r}")
                record["userDefinedFields"][udf.name] = value
                continue
            record[found.name] = value
        record["id"] = self._next_id[key]
        self._next_id[key] += 1
        record["createDate"] = now
        record[schema.modified_field] = now
        self.records[key][record["id"]] = record
        return record

    # -- rendering ---------------------------------------------------------------------
    def _date(self, value: dt.datetime) -> str:
        if self.date_style == "z":
            return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        millis = f"{value.microsecond // 1000:03d}".rstrip("0")
        return f"{text}.{millis}" if millis else text

    def _render(
        self, key: str, record: dict[str, Any], include: list[str] | None = None
    ) -> dict[str, Any]:
        schema = self.schemas[key]
        out: dict[str, Any] = {}
        wanted = None if include is None else {name.lower() for name in include}
        for spec in schema.fields:
            if wanted is not None and spec.name.lower() not in wanted:
                continue
            value = record.get(spec.name)
            out[spec.name] = self._date(value) if isinstance(value, dt.datetime) else value
        udfs = record.get("userDefinedFields", {})
        out["userDefinedFields"] = [
            {"name": name, "value": None if value is None else str(value)}
            for name, value in udfs.items()
            if self.udf_listing == "all" or value is not None
        ]
        return out

    # -- HTTP --------------------------------------------------------------------------
    def _zone_base(self, request: httpx.Request) -> str:
        host = request.url.host
        if host.endswith("autotask.net"):
            return f"https://{DISCOVERY}{self.zone}.autotask.net/ATServicesRest/"
        origin = f"{request.url.scheme}://{request.headers.get('host') or host}"
        return f"{origin}/zone{self.zone}/ATServicesRest/"

    @staticmethod
    def _request_zone(request: httpx.Request, path: str) -> tuple[int | None, str]:
        """(zone number or None for the discovery host, path without zone prefix)."""
        host = request.url.host
        if host.endswith("autotask.net"):
            label = host.split(".")[0].lower()
            number = label[len(DISCOVERY) :]
            return (int(number) if number.isdigit() else None), path
        parts = path.split("/", 2)
        if len(parts) > 2 and parts[1].startswith("zone") and parts[1][4:].isdigit():
            return int(parts[1][4:]), "/" + parts[2]
        return None, path

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (auth, limits, an armed fault, then the route); every
        request goes to :attr:`log` with its credentials masked."""
        body = request.read()
        status = 0
        try:
            response = self._handle(request, body)
            status = response.status_code
            if "date" not in response.headers:  # the tenant's clock, as Autotask sends it
                response.headers["Date"] = self.clock.http_date()
            return response
        finally:
            self.log.record(request, body, status)

    def _handle(self, request: httpx.Request, body: bytes) -> httpx.Response:
        method = request.method
        zone, path = self._request_zone(request, request.url.path)
        lowered = path.lower()
        if not lowered.startswith("/atservicesrest/"):
            return _no_route(path).response
        rest = [p for p in path[len("/atservicesrest/") :].split("/") if p]
        try:
            if [p.lower() for p in rest] == ["versioninformation"]:
                if method != "GET":
                    raise _bad_verb(method)
                return _json(200, {"apiVersions": list(self.versions)})
            if not rest or rest[0].lower() != "v1.0":
                raise _no_route(path)
            rest = rest[1:]
            if [p.lower() for p in rest] == ["zoneinformation"]:
                return self._zone_information(request)
            user, code = self._authenticate(request, zone)
            entity = rest[0] if rest else ""
            if len(rest) >= 3 and rest[1].isdigit():
                entity = rest[2]
            return self._limited(request, body, rest, user, code, entity.lower())
        except _Answer as answer:
            return answer.response

    def _zone_information(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            raise _bad_verb(request.method)
        user = (request.url.params.get("user") or "").strip().lower()
        if not user or user not in self.users:
            raise _errors("Zone information could not be determined")
        zone_names = {15: "America West 2", 3: "America East", 16: "UK2"}
        base = self._zone_base(request)
        return _json(
            200,
            {
                "zoneName": zone_names.get(self.zone, f"Zone {self.zone}"),
                "url": base,
                "webUrl": base.replace("ATServicesRest/", "").replace("webservices", "ww"),
                "ci": self.ci,
            },
        )

    def _authenticate(self, request: httpx.Request, zone: int | None) -> tuple[ApiUser, str]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        code = headers.get("apiintegrationcode", "")
        username = headers.get("username", "").lower()
        secret = headers.get("secret", "")
        user = self.users.get(username)
        if user is None:
            raise _errors(
                "IntegrationCode is invalid or the user does not exist or is not an API user."
            )
        if code not in self.integration_codes:
            raise _errors("IntegrationCode is invalid.")
        if secret != user.secret or zone != self.zone:
            # A stale zone host knows nothing of the tenant: the same 401 as a bad secret.
            raise _Answer(httpx.Response(401, content=b"Unauthorized"))
        return user, code

    def _limited(
        self,
        request: httpx.Request,
        body: bytes,
        rest: list[str],
        user: ApiUser,
        code: str,
        entity: str,
    ) -> httpx.Response:
        now = self.clock.now()
        with self._lock:
            while self._hour and now - self._hour[0] >= dt.timedelta(hours=1):
                self._hour.popleft()
            if len(self._hour) >= self.threshold:
                raise _errors(
                    "The request threshold of this database has been exceeded. "
                    "Please try again later.",
                    status=429,
                )
            key = (code, entity)
            if self._in_flight[key] >= THREAD_LIMIT:
                raise _errors(
                    "Itgenatr005: The Autotask API thread threshold of 3 threads has been "
                    "exceeded.",
                    status=429,
                )
            self._in_flight[key] += 1
            self.max_in_flight[key] = max(self.max_in_flight[key], self._in_flight[key])
            self._hour.append(now)
            share = len(self._hour) / max(1, self.threshold)
        try:
            if self.usage_latency and share >= 0.5:
                self.sleep(1.0 if share >= 0.75 else 0.5)
            if self.gate is not None:
                self.gate.wait(timeout=10)
            return self._with_faults(request, body, rest, user)
        finally:
            with self._lock:
                self._in_flight[key] -= 1

    def _with_faults(
        self, request: httpx.Request, body: bytes, rest: list[str], user: ApiUser
    ) -> httpx.Response:
        method = request.method
        fault = self.faults.take(
            request.url.path, method=method, write=method not in {"GET", "HEAD"}
        )
        if fault is not None:
            self._early_fault(fault, request)
        response = self._route(request, body, rest, user)
        if fault is not None and fault.after_commit:
            self._lost(fault, request)
        return response

    def _early_fault(self, fault: ArmedFault, request: httpx.Request) -> None:
        """Answer (raise) an armed fault before the route runs, or return to let the
        route run (``after_commit`` transport faults, a non-timeout ``slow``)."""
        name, options = fault.name, fault.options
        if name == "rate_limit":
            raise _errors(
                "Itgenatr005: The Autotask API thread threshold of 3 threads has been "
                "exceeded.",
                status=int(options.get("status", 429)),
            )
        if name == "hourly_limit":
            extra = {}
            if options.get("retry_after") is not None:
                extra["Retry-After"] = str(options["retry_after"])
            raise _Answer(
                _json(
                    429,
                    {"errors": ["The request threshold of this database has been exceeded."]},
                    extra,
                )
            )
        if name == "transient":
            raise _Answer(
                _json(int(options.get("status", 500)), {"Message": "An error has occurred."})
            )
        if name == "permanent":
            raise _errors(str(options.get("message", "A business rule refused the change.")))
        if name == "expired":
            self.move_zone(int(options.get("to", self.zone + 1)))
            raise _Answer(httpx.Response(401, content=b"Unauthorized"))
        if name == "slow" and not options.get("timeout"):
            threading.Event().wait(float(options.get("delay", 0.0)))
            return
        if fault.after_commit:
            return
        self._lost(fault, request)

    @staticmethod
    def _lost(fault: ArmedFault, request: httpx.Request) -> None:
        if fault.name == "slow":
            raise httpx.ReadTimeout("emulated read timeout", request=request)
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )

    # -- routes ------------------------------------------------------------------------
    def _route(
        self, request: httpx.Request, body: bytes, rest: list[str], user: ApiUser
    ) -> httpx.Response:
        from crmsync_autotask.emulator import _routes

        return _routes.route(self, request, body, rest, user)

    def schema(self, name: str, path: str) -> tuple[str, EntitySchema]:
        key = name.lower()
        if key not in self.schemas:
            raise _no_route(path)
        return key, self.schemas[key]

    # -- queries (used by the routes) ---------------------------------------------------
    def query(
        self,
        request: httpx.Request,
        key: str,
        query: dict[str, Any],
        user: ApiUser,
        *,
        after_id: int | None = None,
        search: str | None = None,
    ) -> dict[str, Any]:
        schema = self.schemas[key]
        size = body_key(query, "MaxRecords")
        if size is None:
            size = 500
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 500:
            raise _errors("maxCountOfRecordsToReturn must be between 1 and 500")
        include = body_key(query, "IncludeFields")
        if include is not None:
            if not isinstance(include, list):
                raise _errors("IncludeFields must be an array of field names.")
            for name in include:
                if schema.field(str(name)) is None:
                    raise _errors(f"Unable to find {name} in the Entity.")
        rows = self._matching(schema, key, query, user)
        if after_id is not None:
            rows = [row for row in rows if row["id"] >= after_id]
        page, more = rows[:size], rows[size:]
        next_url = None
        projected_without_id = include is not None and "id" not in {
            str(name).lower() for name in include
        }
        # Paging is keyed on id: a projection without it cannot go past one page.
        if more and not projected_without_id:
            token = json.dumps(
                {"pageSize": size, "previousIds": [-1], "nextIds": [more[0]["id"]]},
                separators=(",", ":"),
            )
            next_url = (
                f"{self._zone_base(request)}V1.0/{schema.name}/query/next?paging={quote(token)}"
            )
            if search is not None:
                next_url += f"&search={quote(search)}"
        return {
            "items": [self._render(key, row, include) for row in page],
            "pageDetails": {
                "count": len(page),
                "requestCount": size,
                "prevPageUrl": None,
                "nextPageUrl": next_url,
            },
        }

    def count(self, key: str, query: dict[str, Any], user: ApiUser) -> int:
        return len(self._matching(self.schemas[key], key, query, user))

    def _matching(
        self, schema: EntitySchema, key: str, query: dict[str, Any], user: ApiUser
    ) -> list[dict[str, Any]]:
        try:
            predicate = compile_filter(schema, body_key(query, "filter"))
        except QueryError as error:
            raise _errors(str(error)) from None
        if user.restricted:
            return []  # a restricted security level sees nothing, without an error
        with self._lock:
            rows = sorted(self.records[key].values(), key=lambda r: int(r["id"]))
            return [row for row in rows if predicate(row)]

    # -- writes (used by the routes) -----------------------------------------------------
    def write(
        self,
        key: str,
        method: str,
        payload: Any,
        user: ApiUser,
        *,
        parent: int | None = None,
        impersonating: str | None = None,
    ) -> int:
        schema = self.schemas[key]
        if not isinstance(payload, dict):
            raise _errors(
                "Cannot deserialize the current JSON array into type because the type "
                "requires a JSON object to deserialize correctly."
            )
        if user.restricted:
            raise _errors(
                "The logged in Resource does not have the adequate permissions to "
                f"{'create' if method == 'POST' else 'update'} this entity type."
            )
        values: dict[str, Any] = {}
        udfs: dict[str, Any] = {}
        record_id: Any = None
        for name, value in payload.items():
            if str(name).lower() == "id":
                record_id = value
                continue
            if str(name).lower() == "userdefinedfields":
                udfs = udf_values(schema, value)
                continue
            spec = schema.field(str(name))
            if spec is None or spec.read_only:
                continue  # JSON.NET ignores unknown members; read-only ones are dropped
            values[spec.name] = typed(spec, value)
        with self._lock:
            if method == "POST":
                return self._create(key, schema, values, udfs, parent, impersonating)
            return self._update(key, schema, method, record_id, values, udfs, parent)

    def _create(
        self,
        key: str,
        schema: EntitySchema,
        values: dict[str, Any],
        udfs: dict[str, Any],
        parent: int | None,
        impersonating: str | None,
    ) -> int:
        body_company = values.get("companyID")
        if key == "contacts" and parent is not None and body_company not in {None, parent}:
            raise _errors("companyID in the body does not match the parent company.")
        self._validate(key, schema, values)
        if impersonating and key == "contacts":
            values["impersonatorCreatorResourceID"] = int(impersonating)
        record = self._new(key, {**values, "userDefinedFields": []})
        record["userDefinedFields"].update(udfs)
        if key == "companies":
            record["createdByResourceID"] = int(impersonating or OWNER_RESOURCE)
        return int(record["id"])

    def _update(
        self,
        key: str,
        schema: EntitySchema,
        method: str,
        record_id: Any,
        values: dict[str, Any],
        udfs: dict[str, Any],
        parent: int | None,
    ) -> int:
        if isinstance(record_id, bool) or not isinstance(record_id, int):
            raise _errors("The id field is required to update an entity.")
        record = self.records[key].get(record_id)
        if record is None or (key == "contacts" and record["companyID"] != parent):
            raise _errors(_NO_MATCH.format(verb="update"))
        if method == "PUT":
            merged = {
                spec.name: values.get(spec.name) for spec in schema.fields if not spec.read_only
            }
        else:
            merged = {**{k: v for k, v in record.items() if k != "userDefinedFields"}, **values}
        self._validate(key, schema, merged)
        for name, value in merged.items():
            spec = schema.field(name)
            if spec is not None and not spec.read_only:
                record[spec.name] = value
        if method == "PUT":
            record["userDefinedFields"] = {u.name: None for u in schema.udfs}
        record["userDefinedFields"].update(udfs)
        record[schema.modified_field] = self.clock.now()
        return int(record_id)

    def delete_contact(self, parent: int, record_id: int, user: ApiUser) -> int:
        with self._lock:
            record = self.records["contacts"].get(record_id)
            if user.restricted or record is None or record["companyID"] != parent:
                raise _errors("No message. " + _NO_MATCH.format(verb="delete"))
            del self.records["contacts"][record_id]
        return record_id

    def _validate(self, key: str, schema: EntitySchema, values: dict[str, Any]) -> None:
        validate(
            key, schema, values, companies=set(self.records["companies"]), resources=RESOURCES
        )

    def search_param(self, request: httpx.Request) -> tuple[dict[str, Any], str]:
        raw = request.url.params.get("search")
        if raw is None:
            raise _errors("The search parameter is required.")
        try:
            found = json.loads(raw)
        except ValueError:
            raise _errors("The search parameter is not valid JSON.") from None
        if not isinstance(found, dict):
            raise _errors("The search parameter must be a JSON object.")
        return found, raw

    @staticmethod
    def paging(request: httpx.Request) -> int:
        raw = parse_qs(urlsplit(str(request.url)).query).get("paging", [""])[0]
        try:
            token = json.loads(raw)
            return int(token["nextIds"][0])
        except (ValueError, KeyError, IndexError, TypeError):
            raise _errors("The paging parameter is not valid.") from None

    def answer_missing(self) -> httpx.Response:
        if self.missing_item == "404":
            return _json(404, {"Message": "Not found"})
        return _json(200, {"item": None})
