"""What a cycle task does on a worker: one cycle of one integration, through the
operations layer, unless another worker's cycle of it holds the lease.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import structlog

from crmsync.engine import CycleBusy, SyncEngine
from crmsync.errors import ConfigurationError, CrmsyncError
from crmsync.logs import redact_text
from crmsync.operations import LiveFields, filter_problems
from crmsync.operations._workspace import Workspace
from crmsync.plugins import ConnectorCatalog
from crmsync.settings import CrmsyncSettings
from crmsync.store import StateStore
from crmsync.workers._store import WorkerStore

log = structlog.get_logger("crmsync.worker")

Outcome = Literal["ran", "busy", "paused", "unknown", "refused"]


@dataclass(frozen=True, slots=True)
class CycleOutcome:
    """What a task did: ``ran`` a cycle (with its status and run id), found the
    integration ``busy`` (another cycle holds its lease), ``paused``, ``unknown``
    (deleted since it was enqueued), or ``refused`` before the cycle started (a
    connector that cannot load, a creation filter on a missing field: ``message``)."""

    integration_id: int
    name: str
    outcome: Outcome
    status: str | None = None
    run_id: int | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WorkerWorkspace(Workspace):
    """The operations' workspace of one task, on the worker process's state store
    (its pool and the workers' lease rule), which outlives the task."""

    worker_store: WorkerStore | None = None

    def get_store(self, *, create: bool = True) -> StateStore:
        if self.worker_store is None:
            return super().get_store(create=create)
        return self.worker_store


def run_task_cycle(
    store: WorkerStore,
    settings: CrmsyncSettings,
    integration_id: int,
    name: str,
    *,
    crm_plugins: Callable[[str | None], Iterable[object]] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    catalog: ConnectorCatalog | None = None,
) -> CycleOutcome:
    """Run one cycle of the integration, with the checks of
    :func:`crmsync.operations.run_cycle`, or end without running.

    The lease, not the queue, decides: a task delivered twice, or enqueued by the
    dispatcher while "run now" had enqueued another, finds the integration busy and
    ends. ``crm_plugins(budget_group)`` gives plugins to register on the CRM
    connection (the shared API budget); ``catalog`` is the process's connectors
    (discovered per task otherwise).
    """
    now = (clock or (lambda: dt.datetime.now(dt.UTC)))()
    store.schedule.mark_started(integration_id, now)
    try:
        integration = store.config.get_integration(name)
    except ConfigurationError:
        return CycleOutcome(integration_id, name, "unknown")
    if integration.id != integration_id:
        return CycleOutcome(integration_id, name, "unknown")
    if not integration.active:
        return CycleOutcome(integration_id, name, "paused")
    entry = store.schedule.schedule_entry(integration_id)
    plugins = (
        list(crm_plugins(entry.budget_group if entry else None))
        if crm_plugins is not None
        else []
    )
    try:
        with WorkerWorkspace(
            settings=settings, worker_store=store, catalog=catalog
        ) as ws:
            platform, crm = ws.open_integration(integration, metadata_cache=True)
            for plugin in plugins:
                crm.plugin_manager.register(plugin)
            # As crmsync.operations.run_cycle, without its per-cycle
            # freeze_long_lived_objects (a full collection, 0.3 s here): a worker
            # freezes once, after its first task (WorkerRuntime).
            problems = filter_problems(integration, LiveFields(platform, crm).known)
            if problems:
                raise problems[0]
            engine = SyncEngine(store, integration, platform, crm, settings=settings)
            report = engine.run_cycle()
    except CycleBusy:
        log.info("cycle_busy", integration=name)
        return CycleOutcome(integration_id, name, "busy")
    except CrmsyncError as error:
        message = redact_text(str(error))
        log.error("cycle_refused", integration=name, error=message)
        return CycleOutcome(integration_id, name, "refused", message=message)
    return CycleOutcome(
        integration_id,
        name,
        "ran",
        status=report.status,
        run_id=report.run_id,
        message=report.message,
    )


__all__ = ["CycleOutcome", "WorkerWorkspace", "run_task_cycle"]
