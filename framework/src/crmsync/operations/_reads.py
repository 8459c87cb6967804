"""What is installed and what happened: connectors, fields, status, history, errors."""

from __future__ import annotations

import platform

from pydantic import BaseModel, ConfigDict

from crmsync.contract import FieldSpec
from crmsync.errors import ConfigurationError, NotFound
from crmsync.operations._models import (
    ConnectorFailure,
    ConnectorInfo,
    ConnectorListing,
    ErrorListing,
    EventEntry,
    IntegrationStatus,
    IntegrationSummary,
    OpenError,
    RunEntry,
)
from crmsync.operations._workspace import Workspace
from crmsync.plugins import InstalledConnector
from crmsync.store import RecordErrorRow, RunRecord, stored_id

__all__ = [
    "VersionInfo",
    "connector_info",
    "event_log",
    "get_run",
    "integration_status",
    "integrations_overview",
    "list_connectors",
    "list_fields",
    "open_errors",
    "run_history",
    "version_info",
]


class VersionInfo(BaseModel):
    """The framework's version and each installed connector's (``crmsync
    --version``)."""

    model_config = ConfigDict(frozen=True)

    crmsync: str
    python: str
    connectors: list[ConnectorInfo]
    failed: list[ConnectorFailure]


def version_info(ws: Workspace) -> VersionInfo:
    """The framework's version, and the connectors installed (with load failures)."""
    from crmsync import __version__

    listing = list_connectors(ws)
    return VersionInfo(
        crmsync=__version__,
        python=platform.python_version(),
        connectors=listing.connectors,
        failed=listing.failed,
    )


def connector_info(connector: InstalledConnector) -> ConnectorInfo:
    """What a loaded connector declares, as listed."""
    description = connector.description
    return ConnectorInfo(
        id=connector.id,
        name=description.name,
        version=connector.version,
        distribution=connector.distribution,
        role=description.role,
        contract_version=description.contract_version,
        objects=list(description.objects),
        person_objects=list(description.person_objects),
        capabilities=sorted(c.value for c in description.capabilities),
        max_batch_size=description.max_batch_size,
        max_concurrency=description.max_concurrency,
    )


def list_connectors(ws: Workspace) -> ConnectorListing:
    """The installed connectors by id, and those that failed to load (never a
    crash)."""
    catalog = ws.get_catalog()
    return ConnectorListing(
        connectors=[connector_info(catalog.loaded[k]) for k in sorted(catalog.loaded)],
        failed=[
            ConnectorFailure(
                id=f.id, distribution=f.distribution, version=f.version, error=f.error
            )
            for f in (catalog.failed[key] for key in sorted(catalog.failed))
        ],
    )


def list_fields(
    ws: Workspace, connector: str, object_name: str, *, integration: str | None = None
) -> list[FieldSpec]:
    """The fields of ``connector``'s ``object_name`` from ``list_fields``, with the
    connector settings stored with ``integration`` when one is named.

    :raises ConfigurationError: the integration does not use ``connector``.
    """
    settings = None
    side = ""
    if integration is not None:
        stored = ws.existing_store().config.get_integration(integration)
        if connector == stored.platform_connector:
            settings, side = stored.platform_settings, "platform"
        elif connector == stored.crm_connector:
            settings, side = stored.crm_settings, "crm"
        else:
            raise ConfigurationError(
                f"integration {integration!r} does not use connector {connector!r}",
                hint=f"it uses {stored.platform_connector} and {stored.crm_connector}",
            )
    connection = ws.open_connection(
        connector, settings, integration=integration, side=side
    )
    return connection.list_fields(object_name)


def _run(run: RunRecord) -> RunEntry:
    return RunEntry(
        id=run.id,
        started_at=run.started_at,
        finished_at=run.finished_at,
        status=run.status,
        dry_run=run.dry_run,
        counts=run.counts,
        message=run.message,
    )


def integration_status(ws: Workspace, name: str) -> IntegrationStatus:
    """Where ``name`` stands: active or paused, links, waiting and parked records,
    open errors and the last run."""
    store = ws.existing_store()
    integration = store.config.get_integration(name)
    iid = stored_id(integration)
    with store.database.transaction() as tx:
        inbox = store.inbox.counts(tx, iid)
        links = store.links.count(tx, iid)
    runs = store.history.list_runs(iid, limit=1)
    return IntegrationStatus(
        name=name,
        platform=integration.platform_connector,
        crm=integration.crm_connector,
        active=integration.active,
        source_of_truth=integration.source_of_truth,
        locked=integration.source_of_truth_locked_at is not None,
        interval_seconds=integration.interval_seconds,
        links=links,
        waiting=inbox["waiting"],
        parked=inbox["parked"],
        open_errors=store.history.count_open_errors(iid),
        last_run=_run(runs[0]) if runs else None,
    )


def integrations_overview(ws: Workspace) -> list[IntegrationSummary]:
    """Every integration by name with its state, links, last run and open errors, in
    one read of the store whatever their number (the Integrations page)."""
    return [
        IntegrationSummary(
            name=row.name,
            platform=row.platform,
            crm=row.crm,
            active=row.active,
            links=row.links,
            open_errors=row.open_errors,
            last_status=row.last_status,
            last_at=row.last_at,
            last_dry_run=row.last_dry_run,
        )
        for row in ws.existing_store().overview.integrations()
    ]


def run_history(ws: Workspace, name: str, *, limit: int = 20) -> list[RunEntry]:
    """The last ``limit`` runs of ``name``, newest first."""
    store = ws.existing_store()
    iid = stored_id(store.config.get_integration(name))
    return [_run(run) for run in store.history.list_runs(iid, limit=limit)]


def get_run(ws: Workspace, name: str, run_id: int) -> RunEntry:
    """One run of ``name`` by its id, read by key (not from the history).

    :raises NotFound: no such integration, or it has no run ``run_id``.
    """
    store = ws.existing_store()
    run = store.history.get_run(stored_id(store.config.get_integration(name)), run_id)
    if run is None:
        raise NotFound(
            f"integration {name!r} has no run {run_id}",
            hint=f"its runs: `crmsync history {name}`",
            field="run_id",
        )
    return _run(run)


def event_log(ws: Workspace, name: str, *, limit: int = 50) -> list[EventEntry]:
    """The last ``limit`` logged operations of ``name`` (mapping changes, pauses,
    rebaselines), newest first."""
    store = ws.existing_store()
    iid = stored_id(store.config.get_integration(name))
    return [
        EventEntry(at=event.at, kind=event.kind, detail=event.detail)
        for event in store.history.list_events(iid, limit=limit)
    ]


def open_errors(ws: Workspace, name: str, *, limit: int = 100) -> ErrorListing:
    """The newest ``limit`` open per-record errors of ``name``, and their total."""
    store = ws.existing_store()
    iid = stored_id(store.config.get_integration(name))
    rows = store.history.open_errors(iid, limit=limit)
    return ErrorListing(
        integration=name,
        total=store.history.count_open_errors(iid) if rows else 0,
        errors=[open_error(row) for row in rows],
    )


def open_error(row: RecordErrorRow) -> OpenError:
    """An open record error as the faces show it."""
    return OpenError(
        side=row.side,
        object_name=row.object_name,
        record_id=row.record_id,
        code=row.code,
        message=row.message,
        field=row.field,
        retryable=row.retryable,
        attempts=row.attempts,
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
    )
