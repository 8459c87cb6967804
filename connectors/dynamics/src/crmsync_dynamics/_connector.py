"""``DynamicsConnector``: the crmsync hooks over the Dataverse Web API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence

import httpx
from pydantic_settings import BaseSettings

from crmsync.authoring import TokenCache
from crmsync.contract import (
    Capability,
    ChangedRecord,
    ChangePage,
    ClockOffset,
    ConnectorDescription,
    Cursor,
    FieldSpec,
    RecordPage,
    WriteRequest,
    WriteResult,
    hookimpl,
)
from crmsync.errors import ConfigurationError, PermanentError
from crmsync_dynamics._errors import CONNECTOR
from crmsync_dynamics._feed import MAX_PAGE, Feed, FeedMode, quote_literal
from crmsync_dynamics._org import TABLES, Org
from crmsync_dynamics._push import MAX_BATCH, Pusher
from crmsync_dynamics._settings import DynamicsSettings
from crmsync_dynamics._values import field_spec, from_wire, parse_datetime

__all__ = ["DynamicsConnector"]

VERSION = "0.1.0"
# Dataverse refuses the 53rd concurrent request of one user at once (0x80072326,
# fact sheet 7): the engine never runs more than this many calls of a connection.
MAX_CONCURRENCY = 52
_LOOKUP_CHUNK = 50


class DynamicsConnector:
    """Leads and contacts of one Dataverse environment (Dynamics 365 Sales)."""

    @staticmethod
    @hookimpl
    def describe_connector() -> ConnectorDescription:
        return ConnectorDescription(
            id="dynamics",
            name="Microsoft Dynamics 365 (Dataverse)",
            contract_version="1.1",
            objects=tuple(TABLES),
            person_objects=("contact", "lead"),
            max_batch_size=MAX_BATCH,
            max_page_size=MAX_PAGE - 1,  # one row of look-ahead per page
            max_concurrency=MAX_CONCURRENCY,
            capabilities=frozenset(
                {
                    Capability.DELETIONS,
                    Capability.MERGES,
                    Capability.CONVERSIONS,
                    Capability.LOOKUP,
                    Capability.IDEMPOTENT_CREATE,
                    Capability.FAULT_INJECTION,
                }
            ),
            settings_model=DynamicsSettings,
            role="crm",
            # Without change tracking the feed is the modifiedon watermark, and a long
            # transaction can commit rows stamped before rows already read (fact sheet
            # 4a: re-read 2 to 5 minutes). With change tracking the delta token ignores
            # this window.
            late_commit_seconds=300.0,
            timestamp_precision_seconds=1.0,
            emulator="crmsync_dynamics.emulator:serve",
        )

    def __init__(
        self,
        settings: BaseSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        token_cache: TokenCache | None = None,
    ) -> None:
        if not isinstance(settings, DynamicsSettings):
            raise ConfigurationError("DynamicsConnector needs DynamicsSettings")
        self.settings = settings
        self.org = Org(
            settings,
            transport=transport,
            max_connections=MAX_CONCURRENCY,
            user_agent=f"crmsync-dynamics/{VERSION}",
            clock=clock or time.time,
            token_cache=token_cache,
        )
        self.feed = Feed(self.org, clock or time.time)
        self.pusher = Pusher(self.org)

    def __repr__(self) -> str:
        return (
            f"DynamicsConnector(environment_url={self.settings.environment_url!r}, "
            f"auth={self.settings.auth!r})"
        )

    def feed_mode(self, object_name: str) -> FeedMode:
        """Which change feed this org gets for ``object_name``: ``change_tracking`` or
        ``modifiedon`` (what ``crmsync doctor`` should show; see the README)."""
        self.org.table(object_name)
        return self.feed.mode(object_name)

    # -- hooks -----------------------------------------------------------------------------
    @hookimpl
    def authenticate(self) -> None:
        self.org.auth.ensure_token(force=True)

    @hookimpl
    def list_fields(self, object_name: str) -> list[FieldSpec]:
        self.org.table(object_name)
        specs = [field_spec(a) for a in self.org.attributes(object_name).values()]
        # The same metadata read says which feed the org gets: logged here too, so
        # that `crmsync doctor` (which lists fields but reads no feed) shows it.
        self.feed.mode(object_name)
        return specs

    @hookimpl
    def fetch_changed(
        self,
        object_name: str,
        fields: Sequence[str],
        cursor: Cursor | None,
        page: str | None,
        page_size: int,
    ) -> ChangePage:
        return self.feed.fetch(object_name, fields, cursor, page, page_size)

    @hookimpl
    def push_updates(self, object_name: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        return self.pusher.push(object_name, requests)

    @hookimpl
    def lookup_records(
        self,
        object_name: str,
        field: str,
        values: Sequence[str],
        fields: Sequence[str],
        page: str | None,
    ) -> RecordPage:
        """One request per page: a ``$filter`` of up to 50 ``eq`` terms (string
        comparison is case-insensitive in Dataverse), then its ``@odata.nextLink``s;
        merged rows and closed leads are no one to link to."""
        table = self.org.table(object_name)
        attributes = self.org.attributes(object_name)
        for name in (field, *fields):
            if name not in attributes:
                raise PermanentError(
                    f"{object_name} has no column {name!r}",
                    code="0x0",
                    field=name,
                    connector=CONNECTOR,
                    object_name=object_name,
                )
        wanted: list[str] = []
        seen: set[str] = set()
        for value in values:
            cleaned = value.strip()
            if cleaned and cleaned.casefold() not in seen:
                seen.add(cleaned.casefold())
                wanted.append(cleaned)
        chunk_index, link = self._lookup_position(page)
        start = chunk_index * _LOOKUP_CHUNK
        if start >= len(wanted):
            return RecordPage()
        prefer = f"odata.maxpagesize={MAX_PAGE}"
        if link is not None:
            response = self.feed.get_link(link, object_name, prefer)
        else:
            key = attributes[field].wire_name
            select = ",".join(
                dict.fromkeys(
                    [table.primary_key, "modifiedon", *(attributes[n].wire_name for n in fields)]
                )
            )
            extra = " and merged eq false" if "merged" in attributes else ""
            if table.name == "lead":
                extra += " and statecode eq 0"
            chunk = wanted[start : start + _LOOKUP_CHUNK]
            condition = " or ".join(f"{key} eq {quote_literal(v)}" for v in chunk)
            response = self.org.get(
                table.entity_set,
                object_name=object_name,
                params={"$select": select, "$filter": f"({condition}){extra}"},
                prefer=prefer,
            )
        body = self.org.json(response, object_name)
        records = tuple(
            ChangedRecord(
                record_id=str(row[table.primary_key]).lower(),
                modified_at=parse_datetime(str(row["modifiedon"])),
                values={
                    n: from_wire(row.get(attributes[n].wire_name), attributes[n]) for n in fields
                },
            )
            for row in body.get("value") or []
        )
        next_link = body.get("@odata.nextLink")
        if next_link:
            following: str | None = json.dumps({"c": chunk_index, "u": str(next_link)})
        elif start + _LOOKUP_CHUNK < len(wanted):
            following = json.dumps({"c": chunk_index + 1, "u": None})
        else:
            following = None
        return RecordPage(records=records, next_page=following)

    @staticmethod
    def _lookup_position(page: str | None) -> tuple[int, str | None]:
        if page is None:
            return 0, None
        try:
            state = json.loads(page)
            index, link = int(state["c"]), state.get("u")
        except (ValueError, KeyError, TypeError):
            raise PermanentError(
                "lookup page token is not one of this connector's",
                code="INVALID_PAGE_TOKEN",
                connector=CONNECTOR,
            ) from None
        return index, None if link is None else str(link)

    @hookimpl
    def clock_offset(self) -> ClockOffset | None:
        """The environment's clock against ours, from its answers' ``Date`` headers."""
        return self.org.http.clock_offset()

    @hookimpl
    def close(self) -> None:
        self.org.close()
