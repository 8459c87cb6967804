"""One Dataverse environment as the connector sees it: the HTTP session, the headers
every call carries, and the tables' metadata (read once per connection)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from crmsync.authoring import (
    ClientAssertion,
    ClientCredentials,
    ConnectorHttp,
    TokenAuth,
    TokenCache,
)
from crmsync.errors import PermanentError
from crmsync_dynamics._batch import build_reads, read_reads
from crmsync_dynamics._errors import CONNECTOR, ERRORS
from crmsync_dynamics._multipart import MultipartError
from crmsync_dynamics._settings import GUARD, DynamicsSettings
from crmsync_dynamics._values import Attribute, attributes_from_metadata

__all__ = ["TABLES", "Org", "Table"]


@dataclass(frozen=True)
class Table:
    """A table crmsync syncs: object name, entity set, primary key."""

    name: str
    entity_set: str
    primary_key: str


TABLES = {
    "lead": Table("lead", "leads", "leadid"),
    "contact": Table("contact", "contacts", "contactid"),
}
# Base metadata properties, and the casts that give what the base type cannot (fact
# sheet section 3): string lengths, choices with labels, lookup targets, date formats.
_BASE_SELECT = (
    "LogicalName,AttributeType,AttributeTypeName,RequiredLevel,IsValidForCreate,"
    "IsValidForUpdate,IsValidForRead,DisplayName,AttributeOf"
)
_SAFE = "$,()='"
# Renew a token when less than this remains (fact sheet 1: about five minutes); Entra
# ID's tokens live 60 to 90 minutes, told by expires_in, never assumed.
_RENEW_BEFORE = 300.0
CASTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("StringAttributeMetadata", {"$select": "LogicalName,MaxLength,FormatName"}),
    ("MemoAttributeMetadata", {"$select": "LogicalName,MaxLength"}),
    (
        "PicklistAttributeMetadata",
        {
            "$select": "LogicalName",
            "$expand": "OptionSet($select=Options),GlobalOptionSet($select=Options)",
        },
    ),
    (
        "MultiSelectPicklistAttributeMetadata",
        {
            "$select": "LogicalName",
            "$expand": "OptionSet($select=Options),GlobalOptionSet($select=Options)",
        },
    ),
    ("StateAttributeMetadata", {"$select": "LogicalName", "$expand": "OptionSet($select=Options)"}),
    (
        "StatusAttributeMetadata",
        {"$select": "LogicalName", "$expand": "OptionSet($select=Options)"},
    ),
    ("LookupAttributeMetadata", {"$select": "LogicalName,Targets"}),
    ("DateTimeAttributeMetadata", {"$select": "LogicalName,Format"}),
)


def _auth(
    settings: DynamicsSettings,
    clock: Callable[[], float],
    token_cache: TokenCache | None = None,
) -> TokenAuth:
    hint = (
        "check the tenant id, the app's client id and its secret or certificate in the "
        "Entra admin center (App registrations > the app > Certificates & secrets)"
    )
    if settings.auth == "certificate":
        assert settings.private_key is not None  # the settings model guarantees it
        return ClientAssertion(
            token_url=settings.token_url,
            client_id=settings.client_id,
            private_key=settings.private_key,
            certificate=settings.certificate,
            thumbprint=settings.certificate_thumbprint,
            scope=settings.scope,
            refused_hint=hint,
            clock=clock,
            leeway=_RENEW_BEFORE,
            token_cache=token_cache,
        )
    assert settings.client_secret is not None
    return ClientCredentials(
        token_url=settings.token_url,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scope=settings.scope,
        refused_hint=hint,
        clock=clock,
        leeway=_RENEW_BEFORE,
        token_cache=token_cache,
    )


class Org:
    """The session and the metadata cache of one connection (thread-safe)."""

    def __init__(
        self,
        settings: DynamicsSettings,
        *,
        transport: httpx.BaseTransport | None,
        max_connections: int,
        user_agent: str,
        clock: Callable[[], float] = time.time,
        token_cache: TokenCache | None = None,
    ) -> None:
        self.settings = settings
        headers = {
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "If-None-Match": "null",
        }
        self.auth = _auth(settings, clock, token_cache)
        self.http = ConnectorHttp(
            connector=CONNECTOR,
            error_map=ERRORS,
            url_guard=GUARD,
            base_url=settings.api_root,
            auth=self.auth,
            transport=transport,
            timeout=settings.timeout,
            max_connections=max_connections,
            user_agent=user_agent,
            headers=headers,
            clock=clock,
        )
        self._lock = threading.Lock()
        self._attributes: dict[str, dict[str, Attribute]] = {}
        self._tracking: dict[str, bool] = {}

    @property
    def api_root(self) -> str:
        return self.settings.api_root

    def table(self, object_name: str) -> Table:
        """The table of ``object_name``, or ``PermanentError`` ``UNKNOWN_OBJECT``."""
        table = TABLES.get(object_name)
        if table is None:
            raise PermanentError(
                f"the Dynamics connector has no object {object_name!r} "
                f"(it syncs {', '.join(TABLES)})",
                code="UNKNOWN_OBJECT",
                connector=CONNECTOR,
            )
        return table

    def get(
        self,
        url: str,
        *,
        object_name: str | None = None,
        params: Mapping[str, str] | None = None,
        prefer: str | None = None,
        accept: tuple[int, ...] = (),
    ) -> httpx.Response:
        """GET ``url`` (relative to the API root, or a guarded absolute link) with an
        optional ``Prefer`` header."""
        headers = {"Prefer": prefer} if prefer else None
        return self.http.request(
            "GET", url, object_name=object_name, params=params, headers=headers, accept=accept
        )

    def json(self, response: httpx.Response, object_name: str | None = None) -> Any:
        """The JSON body, or ``PermanentError`` ``BAD_RESPONSE``."""
        return self.http.json(response, object_name=object_name)

    # -- metadata ------------------------------------------------------------------------
    def attributes(self, object_name: str) -> dict[str, Attribute]:
        """The table's columns by logical name (read once per connection)."""
        with self._lock:
            cached = self._attributes.get(object_name)
        if cached is not None:
            return cached
        self._read_metadata(object_name)
        with self._lock:
            return self._attributes[object_name]

    def change_tracking(self, object_name: str) -> bool:
        """Whether the table has change tracking on (``ChangeTrackingEnabled``)."""
        with self._lock:
            cached = self._tracking.get(object_name)
        if cached is not None:
            return cached
        self._read_metadata(object_name)
        with self._lock:
            return self._tracking[object_name]

    def _read_metadata(self, object_name: str) -> None:
        """Every metadata read of a table in one ``$batch`` of GETs: the base
        attributes, each cast that adds what the base type cannot (fact sheet 3), and
        the table's ``ChangeTrackingEnabled``. Metadata is not paged."""
        definition = f"EntityDefinitions(LogicalName='{object_name}')"
        root = f"{definition}/Attributes"
        paths = [f"{root}?{urlencode({'$select': _BASE_SELECT}, safe=_SAFE, quote_via=quote)}"]
        paths += [
            f"{root}/Microsoft.Dynamics.CRM.{cast}?{urlencode(params, safe=_SAFE, quote_via=quote)}"
            for cast, params in CASTS
        ]
        paths.append(f"{definition}?$select=ChangeTrackingEnabled")
        content_type, body = build_reads(f"/api/data/{self.settings.api_version}", paths)
        response = self.http.request(
            "POST",
            "$batch",
            object_name=object_name,
            content=body.encode(),
            headers={"Content-Type": content_type},
            accept=(400, 403, 404),
        )
        answer_type = response.headers.get("Content-Type", "")
        if "multipart/mixed" not in answer_type.lower():
            self.http.raise_for(response, object_name=object_name)
        try:
            answers = read_reads(answer_type, response.text)
        except MultipartError as error:
            raise PermanentError(
                f"Dataverse answered a metadata $batch that crmsync cannot read: {error}",
                code="BAD_RESPONSE",
                connector=CONNECTOR,
                object_name=object_name,
            ) from None
        failed = next((a for a in answers if a.status >= 400), None)
        if failed is not None or len(answers) != len(paths):
            code = failed.code if failed is not None else "BAD_RESPONSE"
            message = failed.message if failed is not None else "parts are missing"
            raise PermanentError(
                f"Dataverse refused reading the {object_name} table's metadata: {message}",
                code=code or "BAD_RESPONSE",
                connector=CONNECTOR,
                object_name=object_name,
                hint="the application user needs read access to the table (a security role)",
            )
        bodies = [a.body if isinstance(a.body, dict) else {} for a in answers]
        extras = {
            cast: list(b.get("value") or [])
            for (cast, _), b in zip(CASTS, bodies[1:-1], strict=True)
        }
        found = attributes_from_metadata(list(bodies[0].get("value") or []), extras)
        with self._lock:
            self._attributes[object_name] = found
            self._tracking[object_name] = bool(bodies[-1].get("ChangeTrackingEnabled"))

    def close(self) -> None:
        """Close the HTTP session."""
        self.http.close()
