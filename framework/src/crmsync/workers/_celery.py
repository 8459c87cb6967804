"""The Celery application: its settings, the cycle task, and the worker process's
state (one state store and one budget client per process, opened on first use).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import structlog
from celery import Celery  # type: ignore[import-untyped]
from celery.signals import worker_process_init  # type: ignore[import-untyped]

from crmsync.engine import freeze_long_lived_objects
from crmsync.operations._workspace import load_settings
from crmsync.plugins import ConnectorCatalog, discover_connectors
from crmsync.settings import CrmsyncSettings
from crmsync.workers._cycle import run_task_cycle
from crmsync.workers._settings import CYCLE_TASK, WorkerSettings, load_worker_settings
from crmsync.workers._store import WorkerStore, open_worker_store

log = structlog.get_logger("crmsync.worker")


class WorkerRuntime:
    """What a worker process keeps between tasks: settings, the state store (its
    connection pool), the shared-budget client. Opened on the first task, after a
    prefork pool has forked, so no child shares its parent's database connections.
    """

    def __init__(
        self, settings: WorkerSettings, framework: CrmsyncSettings | None = None
    ) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._store: WorkerStore | None = None
        self._crmsync: CrmsyncSettings | None = framework
        self._budgets: Any = None
        self._catalog: ConnectorCatalog | None = None
        self._frozen = False

    def framework_settings(self) -> CrmsyncSettings:
        with self._lock:
            if self._crmsync is None:
                self._crmsync = load_settings()
            return self._crmsync

    def store(self) -> WorkerStore:
        settings = self.framework_settings()
        with self._lock:
            if self._store is None:
                self._store = open_worker_store(
                    settings.database_url,
                    lease_seconds=self.settings.worker_lease_seconds,
                    sqlite_cache_mb=settings.sqlite_cache_mb,
                )
            return self._store

    def budgets(self) -> Any:
        """The Redis client of shared API budgets."""
        with self._lock:
            if self._budgets is None:
                import redis

                self._budgets = redis.Redis.from_url(self.settings.shared_budget_url)
            return self._budgets

    def reset(self, **_signal: Any) -> None:
        """Forget what a parent process opened (a forked child opens its own)."""
        with self._lock:
            if self._store is not None:
                self._store.database.engine.dispose(close=False)
            self._store = None
            self._budgets = None
            self._frozen = False

    def crm_plugins(self, group: str | None) -> list[object]:
        if group is None:
            return []
        from crmsync.workers._budget import SharedBudget

        return [SharedBudget(self.budgets(), group)]

    def catalog(self) -> ConnectorCatalog:
        """The installed connectors, discovered once per process."""
        with self._lock:
            if self._catalog is None:
                self._catalog = discover_connectors()
            return self._catalog

    def run(self, integration_id: int, name: str) -> dict[str, Any]:
        outcome = run_task_cycle(
            self.store(),
            self.framework_settings(),
            integration_id,
            name,
            crm_plugins=self.crm_plugins,
            clock=lambda: dt.datetime.now(dt.UTC),
            catalog=self.catalog(),
        )
        with self._lock:
            if not self._frozen:
                # Modules, schemas, pools and connector classes now exist for the
                # process's life: hide them from the collector once (crmsync sync
                # does it before every cycle; here that full collection would cost
                # more than an idle cycle).
                self._frozen = True
                freeze_long_lived_objects()
        log.info(
            "task_done",
            integration=name,
            outcome=outcome.outcome,
            status=outcome.status,
            run=outcome.run_id,
        )
        return outcome.as_dict()


def make_app(
    settings: WorkerSettings | None = None,
    framework: CrmsyncSettings | None = None,
) -> Celery:
    """The Celery app of crmsync's workers and dispatcher.

    Tasks are acknowledged when the cycle ends (``acks_late``) and given back when
    the worker process dies, so a task is never lost with a worker; one delivered
    twice finds the integration's lease taken and ends without running.
    ``framework`` settings (the state store's URL) are the environment's unless given.
    """
    settings = settings or load_worker_settings()
    app = Celery("crmsync", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.worker_visibility_seconds
        },
        task_default_queue=settings.worker_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # Cycles are long and uneven: a worker takes one task per free slot, so a
        # slow cycle never holds back tasks another worker could run.
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    runtime = WorkerRuntime(settings, framework)
    app.crmsync_runtime = runtime

    @app.task(name=CYCLE_TASK, acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def cycle(integration_id: int, name: str) -> dict[str, Any]:
        """One cycle of one integration (see :func:`run_task_cycle`)."""
        return runtime.run(integration_id, name)

    return app


def start_worker(app: Celery, argv: list[str]) -> None:
    """Run a Celery worker of ``app`` (``crmsync worker``) until it is stopped.

    A prefork pool's children forget what the parent opened before they forked.
    """
    runtime: WorkerRuntime = app.crmsync_runtime
    worker_process_init.connect(runtime.reset, weak=False)
    try:
        app.worker_main(argv)
    finally:
        worker_process_init.disconnect(runtime.reset)


def send_cycle(
    app: Celery, settings: WorkerSettings, integration_id: int, name: str
) -> str:
    """Enqueue one cycle task; its id."""
    result = app.send_task(
        CYCLE_TASK, args=[integration_id, name], queue=settings.worker_queue
    )
    return str(result.id)


__all__ = ["WorkerRuntime", "make_app", "send_cycle", "start_worker"]
