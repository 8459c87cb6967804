"""Cycles on Celery workers (the ``crmsync[celery]`` extra).

* ``crmsync worker`` runs cycle tasks; ``crmsync scheduler`` runs the
  :class:`Dispatcher`, which enqueues one task per due integration, read from the
  state store every tick.
* ``crmsync workers add NAME`` moves an integration's cycles to the workers;
  :func:`enqueue_or_run` is "run now" for every face.
* One cycle per integration at a time, across workers, by the state store's lease.

Importing this package does not import Celery: only the worker, the dispatcher and
enqueuing do.
"""

from __future__ import annotations

from crmsync.store._schedule import DueCycle, ScheduleEntry
from crmsync.workers._cycle import CycleOutcome, run_task_cycle
from crmsync.workers._dispatch import Dispatcher, Tick
from crmsync.workers._enqueue import (
    Enqueued,
    enqueue_or_run,
    runs_on_workers,
)
from crmsync.workers._settings import CYCLE_TASK, WorkerSettings
from crmsync.workers._store import WorkerStore, open_worker_store

__all__ = [
    "CYCLE_TASK",
    "CycleOutcome",
    "Dispatcher",
    "DueCycle",
    "Enqueued",
    "ScheduleEntry",
    "Tick",
    "WorkerSettings",
    "WorkerStore",
    "enqueue_or_run",
    "open_worker_store",
    "run_task_cycle",
    "runs_on_workers",
]
