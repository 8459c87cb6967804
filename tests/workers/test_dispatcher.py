"""The dispatcher and the worker schedule, on SQLite and PostgreSQL, with an injected
clock and a recording enqueue (no broker): what is due, when, and what changes it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmsync.errors import ConfigurationError
from crmsync.models import Integration
from crmsync.store import open_store
from crmsync.store._schedule import PARKED, DueCycle
from crmsync.workers import (
    Dispatcher,
    Enqueued,
    WorkerStore,
    enqueue_or_run,
    open_worker_store,
    runs_on_workers,
)

from .conftest import T0, FakeClock

pytestmark = pytest.mark.postgres


class Recorder:
    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[str] = []
        self.fail_after = fail_after

    def __call__(self, due: DueCycle) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise ConnectionError("broker unreachable")
        self.sent.append(due.name)

    def take(self) -> list[str]:
        sent, self.sent = sorted(self.sent), []
        return sent


@pytest.fixture
def store(postgres_url: str) -> Iterator[WorkerStore]:
    """The schedule on PostgreSQL, where workers keep their state."""
    open_store(postgres_url).dispose()
    opened = open_worker_store(postgres_url, lease_seconds=60)
    yield opened
    opened.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[WorkerStore]:
    url = f"sqlite:///{tmp_path}/state.db"
    open_store(url).dispose()
    opened = open_worker_store(url, lease_seconds=60)
    yield opened
    opened.dispose()


def _integration(
    store: WorkerStore, name: str, *, interval: int = 60, active: bool = True
) -> int:
    stored = store.config.create_integration(
        Integration(
            name=name,
            platform_connector="local",
            crm_connector="local",
            active=active,
            interval_seconds=interval,
        )
    )
    assert stored.id is not None
    return stored.id


def _started(store: WorkerStore, *ids: int, at: dt.datetime) -> None:
    """What a worker does when it picks a task up."""
    for integration_id in ids:
        store.schedule.mark_started(integration_id, at)


@pytest.mark.parametrize("backend", ["sqlite_store", "store"])
def test_due_at_enrolment_then_every_interval(
    backend: str, request: pytest.FixtureRequest
) -> None:
    store: WorkerStore = request.getfixturevalue(backend)
    clock, sent = FakeClock(), Recorder()
    a = _integration(store, "a", interval=60)
    b = _integration(store, "b", interval=300)
    _integration(store, "not-enrolled", interval=60)
    for iid in (a, b):
        store.schedule.enroll(iid, now=clock())
    dispatcher = Dispatcher(store, sent, clock=clock, sweep_seconds=0)

    assert dispatcher.tick().enqueued == 2
    assert sent.take() == ["a", "b"]
    _started(store, a, b, at=clock())
    clock.advance(59)
    assert dispatcher.tick().enqueued == 0
    clock.advance(1)
    dispatcher.tick()
    assert sent.take() == ["a"]
    _started(store, a, at=clock())
    clock.advance(240)
    dispatcher.tick()
    assert sent.take() == ["a", "b"]


def test_a_queued_task_is_not_enqueued_again_until_it_is_lost(
    store: WorkerStore,
) -> None:
    clock, sent = FakeClock(), Recorder()
    a = _integration(store, "a", interval=60)
    store.schedule.enroll(a, now=clock())
    dispatcher = Dispatcher(
        store, sent, clock=clock, requeue_seconds=600, sweep_seconds=0
    )
    dispatcher.tick()
    assert sent.take() == ["a"]
    # No worker picked it up: a backlog adds no second task for the integration...
    clock.advance(120)
    dispatcher.tick()
    assert sent.take() == []
    # ...until the first one counts as lost.
    clock.advance(600)
    dispatcher.tick()
    assert sent.take() == ["a"]


def test_pause_resume_and_interval_changes_apply_on_the_next_tick(
    store: WorkerStore,
) -> None:
    clock, sent = FakeClock(), Recorder()
    a = _integration(store, "a", interval=600)
    store.schedule.enroll(a, now=clock())
    dispatcher = Dispatcher(store, sent, clock=clock, sweep_seconds=0)
    dispatcher.tick()
    _started(store, a, at=clock())
    assert sent.take() == ["a"]

    # Shorter interval: due one new interval after the last dispatch.
    store.config.update_integration("a", interval_seconds=60)
    clock.advance(30)
    dispatcher.tick()
    assert sent.take() == []
    clock.advance(30)
    dispatcher.tick()
    assert sent.take() == ["a"]
    _started(store, a, at=clock())

    # Paused: never due; resumed: due at once if its interval elapsed meanwhile.
    store.config.set_active("a", False)
    clock.advance(3600)
    dispatcher.tick()
    assert sent.take() == []
    store.config.set_active("a", True)
    dispatcher.tick()
    assert sent.take() == ["a"]
    _started(store, a, at=clock())

    # Longer interval: not due at the old one.
    store.config.update_integration("a", interval_seconds=900)
    clock.advance(60)
    dispatcher.tick()
    assert sent.take() == []
    clock.advance(840)
    dispatcher.tick()
    assert sent.take() == ["a"]


def test_resumes_and_interval_changes_wait_for_the_sweep(store: WorkerStore) -> None:
    clock, sent = FakeClock(), Recorder()
    a = _integration(store, "a", interval=600)
    store.schedule.enroll(a, now=clock())
    dispatcher = Dispatcher(store, sent, clock=clock, sweep_seconds=30)
    dispatcher.tick()  # sweeps, then claims
    _started(store, a, at=clock())
    assert sent.take() == ["a"]
    clock.advance(25)
    store.config.update_integration("a", interval_seconds=20)
    clock.advance(1)
    dispatcher.tick()  # the last sweep was 26 s ago: the old interval holds
    assert sent.take() == []
    clock.advance(4)
    dispatcher.tick()  # swept: due 20 s after the last dispatch, so now
    assert sent.take() == ["a"]
    _started(store, a, at=clock())

    # A paused row that comes due is parked: later ticks no longer read it.
    store.config.set_active("a", False)
    clock.advance(20)
    dispatcher.tick()
    entry = store.schedule.schedule_entry(a)
    assert entry is not None and entry.due_at == PARKED
    store.config.set_active("a", True)
    dispatcher.tick()
    assert sent.take() == []
    clock.advance(10)
    dispatcher.tick()  # swept: unparked, its interval long past
    assert sent.take() == ["a"]


def test_a_failed_enqueue_gives_the_claims_back(store: WorkerStore) -> None:
    clock = FakeClock()
    ids = [_integration(store, f"i{n}") for n in range(3)]
    for iid in ids:
        store.schedule.enroll(iid, now=clock())
    failing = Recorder(fail_after=1)
    tick = Dispatcher(store, failing, clock=clock, sweep_seconds=0).tick()
    assert (tick.enqueued, tick.given_back) == (1, 2)
    sent = Recorder()
    Dispatcher(store, sent, clock=clock, sweep_seconds=0).tick()
    assert len(sent.take()) == 2  # the two given back, due as before


def test_batch_limits_a_tick_and_the_soonest_due_go_first(store: WorkerStore) -> None:
    clock, sent = FakeClock(), Recorder()
    for n in range(5):
        store.schedule.enroll(
            _integration(store, f"i{n}"), now=clock() + dt.timedelta(seconds=n)
        )
    clock.advance(10)
    dispatcher = Dispatcher(store, sent, clock=clock, batch=2, sweep_seconds=0)
    dispatcher.tick()
    assert sent.take() == ["i0", "i1"]
    dispatcher.tick()
    assert sent.take() == ["i2", "i3"]


def test_withdrawn_and_deleted_integrations_are_not_dispatched(
    store: WorkerStore,
) -> None:
    clock, sent = FakeClock(), Recorder()
    a, b = _integration(store, "a"), _integration(store, "b")
    store.schedule.enroll(a, now=clock())
    store.schedule.enroll(b, now=clock())
    assert store.schedule.withdraw(a) is True
    assert store.schedule.withdraw(a) is False
    store.config.set_active("b", False)
    store.config.delete_integration("b")
    Dispatcher(store, sent, clock=clock, sweep_seconds=0).tick()
    assert sent.take() == []
    assert store.schedule.list_schedule() == []


def test_enrolling_again_keeps_the_due_time_and_sets_the_group(
    store: WorkerStore,
) -> None:
    clock = FakeClock()
    a = _integration(store, "a")
    store.schedule.enroll(a, now=clock())
    store.schedule.enroll(
        a, now=clock() + dt.timedelta(hours=1), budget_group="acme-sf"
    )
    entry = store.schedule.schedule_entry(a)
    assert entry is not None
    assert (entry.due_at, entry.budget_group) == (T0, "acme-sf")


def test_run_now_runs_in_process_unless_the_integration_is_on_the_workers(
    store: WorkerStore,
) -> None:
    clock = FakeClock()
    a = _integration(store, "a", interval=60)
    sent: list[tuple[int, str]] = []

    def send(integration_id: int, name: str) -> str:
        sent.append((integration_id, name))
        return "task-1"

    assert runs_on_workers(store, "a") is False
    assert enqueue_or_run(store, "a", lambda: "ran here", send=send) == "ran here"
    assert sent == []

    store.schedule.enroll(a, now=clock())
    assert runs_on_workers(store, "a") is True
    outcome = enqueue_or_run(store, "a", lambda: "ran here", send=send, clock=clock)
    assert isinstance(outcome, Enqueued)
    assert (outcome.task_id, sent) == ("task-1", [(a, "a")])
    assert "crmsync history a" in outcome.describe()
    # Enqueued counts as the dispatch: nothing due for another interval.
    recorder = Recorder()
    dispatcher = Dispatcher(store, recorder, clock=clock, sweep_seconds=0)
    store.schedule.mark_started(a, clock())
    clock.advance(59)
    dispatcher.tick()
    assert recorder.take() == []
    clock.advance(1)
    dispatcher.tick()
    assert recorder.take() == ["a"]

    store.config.set_active("a", False)
    with pytest.raises(ConfigurationError, match="is paused"):
        enqueue_or_run(store, "a", lambda: "ran here", send=send)


def test_the_worker_store_refuses_a_missing_database(tmp_path: Path) -> None:
    from crmsync.errors import StateError

    with pytest.raises(StateError, match="no state database"):
        open_worker_store(f"sqlite:///{tmp_path}/missing.db", lease_seconds=60)
    assert not (tmp_path / "missing.db").exists()


def test_an_unexpired_lease_of_a_dead_holder_is_not_taken_over(
    store: WorkerStore,
) -> None:
    """Workers wait out a killed holder's lease (its in-flight writes may still land)
    even though the holder lock died with it."""
    a, b = _integration(store, "a"), _integration(store, "b")
    dead = WorkerStore(store.database.url, lease_seconds=60)
    assert dead.leases.acquire(a, "dead-worker", seconds=3600)
    dead.dispose()  # its process dies: the holder lock goes with its connections
    assert store.leases.acquire(a, "worker-2", seconds=3600) is False

    brief = WorkerStore(store.database.url, lease_seconds=0.01)
    assert brief.leases.acquire(b, "dead-worker", seconds=3600)
    brief.dispose()
    time.sleep(0.05)  # past the 10 ms lease (the store stamps leases in real time)
    assert store.leases.acquire(b, "worker-2", seconds=3600) is True
    store.leases.release(b, "worker-2")


def test_the_dispatcher_runs_until_stopped_and_outlives_a_failing_tick(
    store: WorkerStore,
) -> None:
    import threading

    from crmsync.errors import StateError

    clock = FakeClock()
    store.schedule.enroll(_integration(store, "a"), now=clock())
    stop = threading.Event()
    sent: list[str] = []
    ticks = 0

    class Flaky(Dispatcher):
        def tick(self):  # type: ignore[no-untyped-def]
            nonlocal ticks
            ticks += 1
            if ticks == 1:  # the database restarting, say
                raise StateError("state store error: server closed the connection")
            return super().tick()

    def enqueue(due: DueCycle) -> None:
        sent.append(due.name)
        stop.set()

    Flaky(store, enqueue, clock=clock, sweep_seconds=0).run(stop, tick_seconds=0.01)
    assert sent == ["a"] and ticks == 2
