"""The dispatcher: every tick, claim the integrations that are due and enqueue one
cycle task each.

It keeps no schedule of its own. What is due is read from the state store each tick
(:meth:`~crmsync.store.Schedule.claim_due`), so creating, pausing,
resuming or changing an interval takes effect on the next tick, and a restarted (or a
second) dispatcher carries on from the same state.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from crmsync.errors import CrmsyncError
from crmsync.store import StateStore
from crmsync.store._schedule import DueCycle

log = structlog.get_logger("crmsync.dispatcher")

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Tick:
    """What one tick did: cycles enqueued, claims given back, its own cost."""

    enqueued: int
    given_back: int
    seconds: float


class Dispatcher:
    """Enqueues the cycles of due integrations.

    :param enqueue: sends one cycle task (the Celery producer in production; any
        callable in tests). An exception gives that claim and the rest of the tick's
        back to the schedule, due as before.
    :param sweep_seconds: how often a tick first runs the schedule's sweep (resumed
        integrations, changed intervals): the one query that reads every enrolled
        row. ``0`` sweeps on every tick.
    :param clock: the time ticks compare due times with (injected by tests).
    """

    def __init__(
        self,
        store: StateStore,
        enqueue: Callable[[DueCycle], None],
        *,
        batch: int = 1000,
        requeue_seconds: float = 3600.0,
        sweep_seconds: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.enqueue = enqueue
        self.batch = batch
        self.requeue_seconds = requeue_seconds
        self.clock = clock or utc_now
        self.sweep_seconds = sweep_seconds
        self._swept_at: dt.datetime | None = None

    def tick(self) -> Tick:
        """Sweep if it is time, then claim what is due now and enqueue it."""
        started = time.perf_counter()
        now = self.clock()
        if self._swept_at is None or (
            (now - self._swept_at).total_seconds() >= self.sweep_seconds
        ):
            self.store.schedule.sweep()
            self._swept_at = now
        due = self.store.schedule.claim_due(
            now,
            limit=self.batch,
            requeue_before=now - dt.timedelta(seconds=self.requeue_seconds),
        )
        sent = 0
        for index, cycle in enumerate(due):
            try:
                self.enqueue(cycle)
            except Exception as error:
                left = due[index:]
                self.store.schedule.give_back(left)
                log.error(
                    "enqueue_failed",
                    integration=cycle.name,
                    error=str(error),
                    given_back=len(left),
                )
                return Tick(sent, len(left), time.perf_counter() - started)
            sent += 1
        seconds = time.perf_counter() - started
        if sent:
            log.info("dispatched", cycles=sent, seconds=round(seconds, 4))
        return Tick(sent, 0, seconds)

    def run(self, stop: threading.Event, *, tick_seconds: float) -> None:
        """Tick until ``stop`` is set; a tick that filled its batch is followed at
        once by the next, so a backlog drains at the batch size per tick.

        A failing tick (the state store or the broker unreachable) is logged and
        tried again on the next one: the dispatcher outlives a database restart.
        """
        while not stop.is_set():
            try:
                result = self.tick()
            except CrmsyncError as error:
                log.error("tick_failed", error=str(error))
                result = Tick(0, 0, 0.0)
            if result.enqueued < self.batch or result.given_back:
                stop.wait(tick_seconds)


__all__ = ["Dispatcher", "Tick", "utc_now"]
