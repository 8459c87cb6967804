"""``AutotaskConnector``: the crmsync hooks over the Autotask PSA REST API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pydantic_settings import BaseSettings

from crmsync.contract import (
    ApiBudget,
    Capability,
    ChangedRecord,
    ChangePage,
    ClockOffset,
    ConnectorDescription,
    Cursor,
    FieldSpec,
    WriteRequest,
    WriteResult,
    hookimpl,
)
from crmsync.errors import ConfigurationError, PermanentError
from crmsync_autotask._client import THREAD_LIMIT, AutotaskClient
from crmsync_autotask._errors import CONNECTOR
from crmsync_autotask._feed import MODIFIED, FeedReader, Reconciliation, stamp_of
from crmsync_autotask._fields import EntityMeta, WireField, read_value
from crmsync_autotask._settings import AutotaskSettings
from crmsync_autotask._writes import Writer

__all__ = ["AutotaskConnector"]

OBJECTS = ("Contacts", "Companies")
# A read reuses company names read within the hour: a renamed company shows within it,
# and re-reading a feed's overlap window costs no Companies query.
COMPANY_NAME_MAX_AGE = 3600.0
_LOOKUP_CHUNK = 250  # values per query: each is sent as given and lower-cased (<= 500 ORs)


class AutotaskConnector:
    """Contact (and company) sync with one Autotask tenant, as an API-only user."""

    @staticmethod
    @hookimpl
    def describe_connector() -> ConnectorDescription:
        return ConnectorDescription(
            id="autotask",
            name="Autotask PSA",
            contract_version="1.1",
            objects=OBJECTS,
            person_objects=("Contacts",),
            # No batch write exists: one record per call.
            max_batch_size=1,
            max_page_size=500,
            # Three requests in flight per (integration code, entity endpoint); the
            # connector also holds every call to that limit itself.
            max_concurrency=THREAD_LIMIT,
            capabilities=frozenset(
                {
                    # Detected by id reconciliation at an interval (no tombstones).
                    Capability.DELETIONS,
                    Capability.LOOKUP,
                    Capability.API_BUDGET,
                    Capability.FAULT_INJECTION,
                }
            ),
            settings_model=AutotaskSettings,
            role="crm",
            # Clients re-read about two minutes behind their watermark: stamps land
            # slightly out of order (fact sheet section 4).
            late_commit_seconds=120.0,
            # Autotask stamps milliseconds (lastModifiedDate "...:51.273Z").
            timestamp_precision_seconds=0.001,
            emulator="crmsync_autotask.emulator:serve",
        )

    def __init__(
        self,
        settings: BaseSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(settings, AutotaskSettings):
            raise ConfigurationError("AutotaskConnector needs AutotaskSettings")
        self.settings = settings
        self._clock = clock or time.time
        self.client = AutotaskClient(settings, transport=transport, clock=self._clock)
        self.feed = FeedReader(
            self.client,
            clock=self._clock,
            reconcile_interval=settings.reconcile_interval,
            reconcile_max_share=settings.reconcile_max_share,
            page_size=settings.page_size,
        )
        self.writer = Writer(self.client, settings, self.feed, clock=self._clock)
        self._meta: dict[str, EntityMeta] = {}
        self._lock = threading.Lock()
        self._meta_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AutotaskConnector(username={self.settings.username!r})"

    @property
    def last_reconciliation(self) -> dict[str, Reconciliation]:
        """The latest deletion check per object: its calls, known and deleted counts."""
        return dict(self.feed.last_reconciliation)

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests this connection made, by kind (``feed``, ``count``, ``sweep``,
        ``lookup``, ``company``, ``write``, ``read``, ``zoneInformation``, ...): what
        a cycle report would show if the contract carried connector request counts."""
        return dict(self.client.calls)

    # -- metadata ------------------------------------------------------------------------
    def _check_object(self, object_name: str) -> str:
        if object_name not in OBJECTS:
            raise PermanentError(
                f"Autotask connector has no object {object_name!r} (it serves "
                f"{', '.join(OBJECTS)})",
                code="UNKNOWN_OBJECT",
                connector=CONNECTOR,
            )
        return object_name

    def meta(self, object_name: str) -> EntityMeta:
        """The entity's fields and UDFs (two calls, once per connection)."""
        self._check_object(object_name)
        with self._meta_lock:  # concurrent pushes of a fresh connection read it once
            with self._lock:
                cached = self._meta.get(object_name)
            if cached is not None:
                return cached
            fields = self.client.get(
                f"{object_name}/entityInformation/fields", entity=object_name
            )
            udfs = self.client.get(
                f"{object_name}/entityInformation/userDefinedFields", entity=object_name
            )
            meta = EntityMeta(
                object_name,
                [f for f in (fields or {}).get("fields") or [] if isinstance(f, dict)],
                [u for u in (udfs or {}).get("fields") or [] if isinstance(u, dict)],
                company_name=object_name == "Contacts"
                and self.settings.company_strategy == "find_or_create",
            )
            with self._lock:
                self._meta[object_name] = meta
            return meta

    def _wanted(self, meta: EntityMeta, fields: Sequence[str]) -> list[WireField]:
        wanted: list[WireField] = []
        for name in fields:
            found = meta.get(name)
            if found is None:
                raise PermanentError(
                    f"Autotask {meta.entity} has no field {name!r}",
                    code="INVALID_FIELD",
                    field=name,
                    connector=CONNECTOR,
                    object_name=meta.entity,
                    hint="refresh the field list; a UDF may have been renamed",
                )
            wanted.append(found)
        return wanted

    # -- hooks ---------------------------------------------------------------------------
    @hookimpl
    def authenticate(self) -> None:
        self.client.authenticate()

    @hookimpl
    def list_fields(self, object_name: str) -> list[FieldSpec]:
        return self.meta(object_name).specs()

    @hookimpl
    def fetch_changed(
        self,
        object_name: str,
        fields: Sequence[str],
        cursor: Cursor | None,
        page: str | None,
        page_size: int,
    ) -> ChangePage:
        meta = self.meta(object_name)
        wanted = self._wanted(meta, fields)
        return self.feed.fetch(
            object_name,
            meta,
            wanted,
            cursor,
            page,
            page_size,
            lambda ids: self.writer.company_names(ids, max_age=COMPANY_NAME_MAX_AGE),
        )

    @hookimpl
    def push_updates(
        self, object_name: str, requests: Sequence[WriteRequest]
    ) -> list[WriteResult]:
        meta = self.meta(object_name)
        return self.writer.push(object_name, meta, requests)

    @hookimpl
    def lookup_records(
        self, object_name: str, field: str, values: Sequence[str], fields: Sequence[str]
    ) -> list[ChangedRecord]:
        meta = self.meta(object_name)
        (key,) = self._wanted(meta, [field])
        wanted = self._wanted(meta, fields)
        if key.kind == "company" or not key.queryable:
            raise PermanentError(
                f"Autotask cannot look {object_name} up by {field!r} (not queryable)",
                code="INVALID_FIELD",
                field=field,
                connector=CONNECTOR,
                object_name=object_name,
            )
        cleaned: dict[str, str] = {}
        for value in values:
            text = str(value).strip()
            if text:
                cleaned.setdefault(text.casefold(), text)
        found: dict[str, ChangedRecord] = {}
        items = list(cleaned.items())
        include = ["id", MODIFIED[object_name], "createDate"]
        if object_name == "Contacts":
            include.append("companyID")
        include += [f.wire for f in wanted if f.kind == "standard" and f.wire not in include]
        if key.kind == "standard" and key.wire not in include:
            include.append(key.wire)
        for start in range(0, len(items), _LOOKUP_CHUNK):
            chunk = items[start : start + _LOOKUP_CHUNK]
            # Sent as given and lower-cased: Autotask's text comparison is believed to
            # be case-insensitive (unconfirmed), and this finds the usual forms if not.
            sent = sorted({text for _, text in chunk} | {folded for folded, _ in chunk})
            condition: dict[str, Any] = {"op": "in", "field": key.wire, "value": sent}
            if key.kind == "udf":
                condition["udf"] = True
            conditions: list[dict[str, Any]] = [condition]
            if object_name == "Companies":
                conditions.append({"op": "gt", "field": "id", "value": 0})
            rows, _ = self.feed.query_all(object_name, conditions, include, kind="lookup")
            names: dict[int, str] = {}
            if any(f.kind == "company" for f in wanted):
                names = self.writer.company_names(
                    {int(r["companyID"]) for r in rows if isinstance(r.get("companyID"), int)},
                    max_age=COMPANY_NAME_MAX_AGE,
                )
            for row in rows:
                got = read_value(row, key)
                if got is None or str(got).strip().casefold() not in cleaned:
                    continue
                record_id = str(row.get("id"))
                if record_id in found:
                    continue
                company = row.get("companyID")
                if object_name == "Contacts" and isinstance(company, int):
                    self.feed.contact_company[int(row["id"])] = company
                found[record_id] = ChangedRecord(
                    record_id=record_id,
                    modified_at=stamp_of(object_name, row),
                    values={
                        f.name: (
                            names.get(company) if isinstance(company, int) else None
                        )
                        if f.kind == "company"
                        else f.from_wire(read_value(row, f))
                        for f in wanted
                    },
                )
        return list(found.values())

    @hookimpl
    def api_budget(self) -> ApiBudget | None:
        return self.client.api_budget()

    @hookimpl
    def clock_offset(self) -> ClockOffset | None:
        """The zone's clock against ours, from its answers' ``Date`` headers."""
        return self.client.http.clock_offset()

    @hookimpl
    def close(self) -> None:
        self.client.close()
