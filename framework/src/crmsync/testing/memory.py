"""An in-memory connector: the smallest complete implementation of the contract.

It serves two purposes: engine tests and the engine-only benchmark drive whole cycles
against it (no HTTP), and it shows a connector author every hook in a few lines. Its
records live in a :class:`MemoryBackend` shared by every connection made with the same
backend, so a test can edit the "vendor" directly and watch the engine notice. Faults
are injected per hook call.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from crmsync.contract import (
    CONTRACT_VERSION,
    Capability,
    ChangedRecord,
    ChangePage,
    ConnectorDescription,
    Cursor,
    FieldSpec,
    FieldType,
    RecordError,
    RecordPage,
    RecordRef,
    Tombstone,
    WriteRequest,
    WriteResult,
    hookimpl,
)
from crmsync.errors import (
    AuthenticationExpired,
    AuthenticationFailed,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    TransientError,
)

__all__ = [
    "MemoryBackend",
    "MemoryConnector",
    "MemoryPlatformConnector",
    "MemorySettings",
    "default_person_fields",
    "platform_backend",
    "platform_fields",
]


def default_person_fields() -> list[FieldSpec]:
    """Fields of a person object, close to a CRM lead."""
    return [
        FieldSpec(name="Id", label="Id", type=FieldType.ID, read_only=True),
        FieldSpec(
            name="FirstName", label="First Name", type=FieldType.STRING, length=40
        ),
        FieldSpec(
            name="LastName",
            label="Last Name",
            type=FieldType.STRING,
            length=80,
            required_on_create=True,
        ),
        FieldSpec(
            name="Company",
            label="Company",
            type=FieldType.STRING,
            length=255,
            required_on_create=True,
        ),
        FieldSpec(name="Email", label="Email", type=FieldType.EMAIL, length=80),
        FieldSpec(name="Phone", label="Phone", type=FieldType.PHONE, length=40),
        FieldSpec(name="Score", label="Score", type=FieldType.INTEGER),
        FieldSpec(name="Revenue", label="Revenue", type=FieldType.NUMBER),
        FieldSpec(name="OptedOut", label="Opted Out", type=FieldType.BOOLEAN),
        FieldSpec(name="LastActivity", label="Last Activity", type=FieldType.DATETIME),
        FieldSpec(name="Birthday", label="Birthday", type=FieldType.DATE),
        FieldSpec(
            name="Status",
            label="Status",
            type=FieldType.PICKLIST,
            picklist_values=("Open", "Working", "Closed"),
            restricted_picklist=True,
        ),
        FieldSpec(
            name="Interests",
            label="Interests",
            type=FieldType.MULTIPICKLIST,
            picklist_values=("Email", "Webinar", "Events"),
        ),
        FieldSpec(name="Rating", label="Rating", type=FieldType.STRING, read_only=True),
    ]


class MemorySettings(BaseSettings):
    """Settings of the memory connector (only to show how secrets are declared)."""

    model_config = SettingsConfigDict(env_prefix="CRMSYNC_MEMORY_", extra="ignore")

    api_key: SecretStr = SecretStr("memory-secret-key")
    connector_id: str = "memory"


@dataclass
class _Row:
    record_id: str
    modified_at: dt.datetime
    values: dict[str, Any]
    deleted: bool = False
    merged_into: str | None = None
    converted_to: RecordRef | None = None


@dataclass
class MemoryBackend:
    """The "vendor": records per object, a clock, faults and call counters."""

    objects: dict[str, list[FieldSpec]] = field(
        default_factory=lambda: {
            "Lead": default_person_fields(),
            "Contact": default_person_fields(),
        }
    )
    rows: dict[str, dict[str, _Row]] = field(default_factory=dict)
    now: Callable[[], dt.datetime] = field(
        default_factory=lambda: lambda: dt.datetime.now(dt.UTC).replace(microsecond=0)
    )
    faults: deque[tuple[str, str]] = field(default_factory=deque)
    calls: dict[str, int] = field(default_factory=dict)
    fail_on_push: Callable[[str, WriteRequest], RecordError | None] | None = None
    token_valid: bool = False
    credentials_refused: bool = False
    # Answer lookups in pages of this many records (a vendor's paged query); None: all.
    lookup_page_size: int | None = None
    """Refuse every ``authenticate`` (credentials wrong or revoked)."""
    # Per object, since when its feed reports deletions: set by ``purge``, as a
    # vendor's deletion log that no longer reaches back past a purge. A read from an
    # older cursor says so (``ChangePage.deletions_unknown_before``).
    deletions_known_since: dict[str, dt.datetime] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    # Per object: sorted list of (modified_at, record_id) of every row, for feed order.
    _order: dict[str, list[tuple[dt.datetime, str]]] = field(default_factory=dict)

    # -- direct manipulation, as a vendor's users would --------------------------------
    def put(
        self,
        object_name: str,
        values: dict[str, Any],
        *,
        record_id: str | None = None,
        at: dt.datetime | None = None,
    ) -> str:
        """Create or update a record directly (bumping its modification time)."""
        with self._lock:
            table = self.rows.setdefault(object_name, {})
            record_id = record_id or f"{object_name[:3].upper()}{next(self._ids):08d}"
            moment = at or self.now()
            row = table.get(record_id)
            if row is None:
                row = _Row(record_id, moment, {})
                table[record_id] = row
            else:
                self._unindex(object_name, row)
                row.modified_at = moment
            row.values.update(values)
            self._index(object_name, row)
            return record_id

    def delete(
        self, object_name: str, record_id: str, *, merged_into: str | None = None
    ) -> None:
        with self._lock:
            row = self.rows[object_name][record_id]
            self._unindex(object_name, row)
            row.deleted, row.merged_into, row.modified_at = (
                True,
                merged_into,
                self.now(),
            )
            self._index(object_name, row)

    def purge(self, object_name: str, record_id: str) -> None:
        """Delete a record and forget it: no tombstone in the feed, ever (a recycle bin
        emptied). The feed then says that deletions before now are unknown to a read
        from an older cursor, and ``missing_records`` answers the id."""
        with self._lock:
            row = self.rows[object_name].pop(record_id)
            self._unindex(object_name, row)
            self.deletions_known_since[object_name] = self.now()

    def convert(self, record_id: str, *, into_object: str = "Contact") -> str:
        """Convert a Lead into a Contact carrying its values; returns the contact id."""
        with self._lock:
            lead = self.rows["Lead"][record_id]
            contact_id = self.put(into_object, dict(lead.values))
            self._unindex("Lead", lead)
            lead.converted_to = RecordRef(object_name=into_object, record_id=contact_id)
            lead.modified_at = self.now()
            self._index("Lead", lead)
            return contact_id

    def get(self, object_name: str, record_id: str) -> dict[str, Any]:
        return dict(self.rows[object_name][record_id].values)

    def live(self, object_name: str) -> list[str]:
        return [
            r.record_id
            for r in self.rows.get(object_name, {}).values()
            if not r.deleted
        ]

    def inject(self, kind: str, *, hook: str = "any", count: int = 1) -> None:
        """Queue a fault for the next call of ``hook``.

        Kinds: rate_limit, transient, expired, quota, permanent.
        """
        for _ in range(count):
            self.faults.append((hook, kind))

    # -- plumbing ----------------------------------------------------------------------
    def _index(self, object_name: str, row: _Row) -> None:
        bisect.insort(
            self._order.setdefault(object_name, []), (row.modified_at, row.record_id)
        )

    def _unindex(self, object_name: str, row: _Row) -> None:
        order = self._order[object_name]
        position = bisect.bisect_left(order, (row.modified_at, row.record_id))
        del order[position]

    def _enter(self, hook: str) -> None:
        with self._lock:
            self.calls[hook] = self.calls.get(hook, 0) + 1
            for index, (target, kind) in enumerate(self.faults):
                if target in (hook, "any"):
                    del self.faults[index]
                    self._raise(kind)
                    break
            if hook != "authenticate" and not self.token_valid:
                raise AuthenticationExpired(
                    "memory session expired", connector="memory"
                )

    @staticmethod
    def _raise(kind: str) -> None:
        if kind == "rate_limit":
            raise RateLimited("too many requests", retry_after=2.5, connector="memory")
        if kind == "transient":
            raise TransientError("503 service unavailable", connector="memory")
        if kind == "expired":
            raise AuthenticationExpired("session expired", connector="memory")
        if kind == "quota":
            raise QuotaExhausted("daily API allocation spent", connector="memory")
        if kind == "permanent":
            raise PermanentError("bad request", code="BAD_REQUEST", connector="memory")
        raise ValueError(f"unknown fault {kind!r}")


class MemoryConnector:
    """Implements every hook against a :class:`MemoryBackend`
    (``factory_kwargs={"backend": b}``).
    """

    def __init__(
        self, settings: MemorySettings, *, backend: MemoryBackend | None = None
    ) -> None:
        self.settings = settings
        self.backend = backend or MemoryBackend()

    @staticmethod
    @hookimpl
    def describe_connector() -> ConnectorDescription:
        return ConnectorDescription(
            id="memory",
            name="In-memory CRM (tests)",
            contract_version=CONTRACT_VERSION,
            objects=("Lead", "Contact"),
            person_objects=("Contact", "Lead"),
            max_batch_size=200,
            max_page_size=2000,
            max_concurrency=2,
            capabilities=frozenset(
                {
                    Capability.DELETIONS,
                    Capability.MERGES,
                    Capability.CONVERSIONS,
                    Capability.LOOKUP,
                    Capability.FAULT_INJECTION,
                }
            ),
            settings_model=MemorySettings,
            role="any",
        )

    @hookimpl
    def authenticate(self) -> None:
        self.backend._enter("authenticate")
        if self.backend.credentials_refused:
            self.backend.token_valid = False
            raise AuthenticationFailed("the API key was refused", connector="memory")
        self.backend.token_valid = True

    @hookimpl
    def list_fields(self, object_name: str) -> list[FieldSpec]:
        self.backend._enter("list_fields")
        if object_name not in self.backend.objects:
            raise PermanentError(f"no object {object_name}", code="UNKNOWN_OBJECT")
        return list(self.backend.objects[object_name])

    @hookimpl
    def fetch_changed(
        self,
        object_name: str,
        fields: Sequence[str],
        cursor: Cursor | None,
        page: str | None,
        page_size: int,
    ) -> ChangePage:
        backend = self.backend
        backend._enter("fetch_changed")
        with backend._lock:
            order = backend._order.get(object_name, [])
            if page is not None:
                # The token is the position of the last row served, not an offset: an
                # edit between two pages moves a record in the order, and an offset
                # would then skip the record that slid into its place.
                at, _, last_id = page.partition("|")
                start = bisect.bisect_right(
                    order, (dt.datetime.fromisoformat(at), last_id)
                )
            elif cursor is None or cursor.modified_at is None:
                start = 0
            elif cursor.record_id is None:
                start = bisect.bisect_left(order, (cursor.modified_at, ""))
            else:
                start = bisect.bisect_right(
                    order, (cursor.modified_at, cursor.record_id)
                )
            chunk = order[start : start + page_size]
            records, tombstones = [], []
            for _, record_id in chunk:
                row = backend.rows[object_name][record_id]
                if row.deleted:
                    tombstones.append(
                        Tombstone(
                            record_id=record_id,
                            deleted_at=row.modified_at,
                            merged_into=row.merged_into,
                        )
                    )
                else:
                    records.append(
                        ChangedRecord(
                            record_id=record_id,
                            modified_at=row.modified_at,
                            values={name: row.values.get(name) for name in fields},
                            converted_to=row.converted_to,
                        )
                    )
            if chunk:
                last_at, last_id = chunk[-1]
                position = Cursor(modified_at=last_at, record_id=last_id)
            else:
                position = cursor or Cursor()
            known_since = backend.deletions_known_since.get(object_name)
            unknown_before = _deletions_unknown_before(known_since, cursor, page)
            if known_since is not None:
                # The cursor remembers which purge its reads have answered for, so
                # one purge asks for one reconciliation, not one per cycle.
                position = position.model_copy(
                    update={"token": _known_since(known_since)}
                )
            more = start + page_size < len(order)
            return ChangePage(
                records=tuple(records),
                tombstones=tuple(tombstones),
                cursor=position,
                next_page=f"{chunk[-1][0].isoformat()}|{chunk[-1][1]}"
                if more
                else None,
                deletions_unknown_before=unknown_before,
            )

    @hookimpl
    def push_updates(
        self, object_name: str, requests: Sequence[WriteRequest]
    ) -> list[WriteResult]:
        backend = self.backend
        backend._enter("push_updates")
        specs = {spec.name: spec for spec in backend.objects[object_name]}
        results = []
        for request in requests:
            error = self._validate(object_name, request, specs)
            if error is None and backend.fail_on_push is not None:
                error = backend.fail_on_push(object_name, request)
            if error is not None:
                results.append(WriteResult(ref=request.ref, ok=False, error=error))
                continue
            record_id = backend.put(
                object_name, dict(request.values), record_id=request.record_id
            )
            row = backend.rows[object_name][record_id]
            results.append(
                WriteResult(
                    ref=request.ref,
                    ok=True,
                    record_id=record_id,
                    modified_at=row.modified_at,
                    error=None,
                )
            )
        return results

    def _validate(
        self, object_name: str, request: WriteRequest, specs: dict[str, FieldSpec]
    ) -> RecordError | None:
        table = self.backend.rows.get(object_name, {})
        if request.op == "update":
            row = table.get(request.record_id or "")
            if row is None or row.deleted:
                return RecordError(
                    code="NOT_FOUND", message="record does not exist", missing=True
                )
            if row.converted_to is not None:
                return RecordError(
                    code="CANNOT_UPDATE_CONVERTED", message="record was converted"
                )
        for name, value in request.values.items():
            spec = specs.get(name)
            if spec is None:
                return RecordError(
                    code="INVALID_FIELD", message=f"no field {name}", field=name
                )
            if spec.read_only:
                return RecordError(
                    code="READ_ONLY", message=f"{name} is read-only", field=name
                )
            if (
                spec.length is not None
                and isinstance(value, str)
                and len(value) > spec.length
            ):
                return RecordError(
                    code="STRING_TOO_LONG",
                    message=f"{name}: max length {spec.length}",
                    field=name,
                )
            if (
                spec.restricted_picklist
                and value is not None
                and value not in spec.picklist_values
            ):
                return RecordError(
                    code="BAD_PICKLIST", message=f"{name}: {value!r}", field=name
                )
        if request.op == "create":
            for spec in specs.values():
                if spec.required_on_create and request.values.get(spec.name) in (
                    None,
                    "",
                ):
                    return RecordError(
                        code="REQUIRED_FIELD_MISSING",
                        message=f"Required fields are missing: [{spec.name}]",
                        field=spec.name,
                    )
        return None

    @hookimpl
    def lookup_records(
        self,
        object_name: str,
        field: str,
        values: Sequence[str],
        fields: Sequence[str],
        page: str | None = None,
    ) -> list[ChangedRecord] | RecordPage:
        backend = self.backend
        backend._enter("lookup_records")
        wanted = {value.strip().casefold() for value in values}
        found = []
        with backend._lock:
            for row in backend.rows.get(object_name, {}).values():
                value = row.values.get(field)
                if (
                    not row.deleted
                    and row.converted_to is None
                    and isinstance(value, str)
                    and value.strip().casefold() in wanted
                ):
                    found.append(
                        ChangedRecord(
                            record_id=row.record_id,
                            modified_at=row.modified_at,
                            values={name: row.values.get(name) for name in fields},
                        )
                    )
        size = backend.lookup_page_size
        if size is None:
            return found
        # Paged as a vendor's query is: the token is the position of the next page.
        start = int(page or 0)
        end = start + size
        return RecordPage(
            records=tuple(found[start:end]),
            next_page=str(end) if end < len(found) else None,
        )

    @hookimpl
    def missing_records(self, object_name: str, record_ids: Sequence[str]) -> list[str]:
        """The ids that are deleted (merged away included) or purged."""
        backend = self.backend
        backend._enter("missing_records")
        with backend._lock:
            table = backend.rows.get(object_name, {})
            return [
                record_id
                for record_id in record_ids
                if record_id not in table or table[record_id].deleted
            ]

    @hookimpl
    def close(self) -> None:
        return None


def _known_since(moment: dt.datetime) -> str:
    return f"deletions-known-since:{moment.isoformat()}"


def _deletions_unknown_before(
    since: dt.datetime | None, cursor: Cursor | None, page: str | None
) -> dt.datetime | None:
    """The purge a read from ``cursor`` may have missed deletions to, if any: on a
    read's first page, from a cursor older than the object's last purge that no earlier
    read has answered for."""
    if since is None or page is not None or cursor is None:
        return None
    if cursor.token == _known_since(since):
        return None
    if cursor.modified_at is not None and cursor.modified_at >= since:
        return None
    return since


def platform_fields() -> list[FieldSpec]:
    """Fields of a platform prospect, named the way a marketing platform names them."""
    return [
        FieldSpec(name="id", label="Id", type=FieldType.ID, read_only=True),
        FieldSpec(name="email", label="Email", type=FieldType.EMAIL, length=254),
        FieldSpec(
            name="first_name", label="First name", type=FieldType.STRING, length=40
        ),
        FieldSpec(
            name="last_name", label="Last name", type=FieldType.STRING, length=80
        ),
        FieldSpec(name="company", label="Company", type=FieldType.STRING, length=255),
        FieldSpec(name="phone", label="Phone", type=FieldType.PHONE, length=40),
        FieldSpec(name="score", label="Score", type=FieldType.INTEGER),
        FieldSpec(name="rating", label="Rating", type=FieldType.STRING, length=40),
        FieldSpec(name="last_activity", label="Last activity", type=FieldType.DATETIME),
    ]


class MemoryPlatformConnector(MemoryConnector):
    """The memory connector playing a marketing platform with a ``prospect`` object."""

    @staticmethod
    @hookimpl
    def describe_connector() -> ConnectorDescription:
        return ConnectorDescription(
            id="memory_platform",
            name="In-memory platform (tests)",
            contract_version=CONTRACT_VERSION,
            objects=("prospect",),
            person_objects=("prospect",),
            max_batch_size=500,
            max_page_size=5000,
            max_concurrency=1,
            capabilities=frozenset(
                {Capability.DELETIONS, Capability.LOOKUP, Capability.FAULT_INJECTION}
            ),
            settings_model=MemorySettings,
            role="platform",
        )


def platform_backend(**kwargs: Any) -> MemoryBackend:
    """A backend whose only object is ``prospect`` with :func:`platform_fields`."""
    return MemoryBackend(objects={"prospect": platform_fields()}, **kwargs)
