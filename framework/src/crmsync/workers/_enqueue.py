""" "Run now" for every face: enqueue on the workers when the integration runs there,
else run in the caller's process.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from crmsync.errors import ConfigurationError
from crmsync.store import StateStore, stored_id
from crmsync.workers._settings import WorkerSettings, load_worker_settings

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Enqueued:
    """A cycle handed to the workers: it runs when a worker is free (or ends at once
    if another cycle of the integration is running)."""

    name: str
    task_id: str
    queue: str

    def describe(self) -> str:
        return (
            f"cycle of {self.name!r} queued for the workers (queue {self.queue}, "
            f"task {self.task_id}); `crmsync history {self.name}` shows its run"
        )


def runs_on_workers(store: StateStore, name: str) -> bool:
    """Whether the integration's cycles run on the Celery workers."""
    integration = store.config.get_integration(name)
    return store.schedule.schedule_entry(stored_id(integration)) is not None


def enqueue_or_run(
    store: StateStore,
    name: str,
    run_in_process: Callable[[], T],
    *,
    settings: WorkerSettings | None = None,
    send: Callable[[int, str], str] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> Enqueued | T:
    """Run a cycle of ``name`` now: enqueue it when the integration runs on the
    workers (``crmsync workers add``), else call ``run_in_process()`` and return what
    it returns.

    Enqueuing counts as the integration's dispatch: the dispatcher's next one is an
    interval later, and none is added while this task waits.

    :param send: enqueues ``(integration id, name)`` and returns the task id (the
        Celery producer unless given).
    :raises ConfigurationError: the integration is unknown, or paused (enqueued
        only; ``run_in_process`` applies its own checks).
    """
    integration = store.config.get_integration(name)
    integration_id = stored_id(integration)
    schedule = store.schedule
    if schedule.schedule_entry(integration_id) is None:
        return run_in_process()
    if not integration.active:
        raise ConfigurationError(
            f"integration {name!r} is paused",
            hint=f"resume it with `crmsync integration resume {name}`",
        )
    settings = settings or load_worker_settings()
    if send is None:
        send = _celery_sender(settings)
    now = (clock or (lambda: dt.datetime.now(dt.UTC)))()
    task_id = send(integration_id, name)
    schedule.mark_queued(integration_id, now)
    return Enqueued(name=name, task_id=task_id, queue=settings.worker_queue)


def _celery_sender(settings: WorkerSettings) -> Callable[[int, str], str]:
    try:
        from crmsync.workers._celery import make_app, send_cycle
    except ImportError:
        raise ConfigurationError(
            "this integration runs on Celery workers, but Celery is not installed here",
            hint="install crmsync[celery], or `crmsync workers remove NAME` to run "
            "its cycles in-process",
        ) from None
    app = make_app(settings)

    def send(integration_id: int, name: str) -> str:
        try:
            return send_cycle(app, settings, integration_id, name)
        finally:
            app.close()

    return send


__all__ = ["Enqueued", "enqueue_or_run", "runs_on_workers"]
