"""Real ``crmsync worker`` processes on Redis and PostgreSQL (not Celery's eager mode):
cycles at each integration's interval, never two of one integration at once, and
nothing lost or duplicated when a worker is killed mid-cycle.
"""

from __future__ import annotations

import collections
import time

import pytest

from .conftest import (
    Tenant,
    WorkerWorld,
    assert_no_overlap,
    wait_for,
)

pytestmark = pytest.mark.postgres


def _ran(world: WorkerWorld, tenant: Tenant) -> int:
    return sum(
        1 for r in world.finished(tenant) if r.status in {"succeeded", "partial"}
    )


def _assert_in_step(world: WorkerWorld, tenant: Tenant) -> None:
    """Every prospect of the tenant is one lead in its org, and linked once."""
    emails = tenant.lead_emails()
    duplicates = [e for e, n in collections.Counter(emails).items() if n > 1]
    assert duplicates == [], (tenant.name, duplicates)
    assert len(emails) == tenant.prospects(), tenant.name
    assert world.link_count(tenant) == tenant.prospects(), tenant.name


def _round(
    world: WorkerWorld, tenants: list[Tenant], runs: int, *, timeout: float
) -> None:
    wait_for(
        lambda: all(_ran(world, t) >= runs for t in tenants) and world.drained(),
        timeout=timeout,
        what=f"{runs} finished cycle(s) of each of {len(tenants)} integrations",
    )


def _kill_mid_cycle(
    world: WorkerWorld, victim: Tenant, workers: dict[str, object]
) -> str:
    """Wait until ``victim``'s cycle is inside a push the emulator holds, then
    ``kill -9`` the worker running it; the label of the killed worker."""
    wait_for(
        lambda: victim.emulator.faults.fired and world.lease_owner(victim),
        timeout=30,
        what=f"{victim.name}'s cycle to reach its slowed push",
    )
    owner = world.lease_owner(victim)
    assert owner is not None
    pid = int(owner.split(":")[1])
    label = next(k for k, p in workers.items() if p.pid == pid)  # type: ignore[attr-defined]
    world.kill(workers[label])  # type: ignore[arg-type]
    return label


def test_two_workers_run_each_at_its_interval_and_survive_a_kill_9(
    world: WorkerWorld,
) -> None:
    tenants = world.add_tenants(4, prospects=15)
    workers = {"a": world.start_worker("a"), "b": world.start_worker("b")}
    dispatcher = world.dispatcher()

    # Enrolled integrations are due at once; each runs one cycle.
    assert dispatcher.tick().enqueued == 4
    _round(world, tenants, 1, timeout=60)
    # Half an interval later nothing is due; a whole one later, every one is.
    world.clock.advance(30)
    assert dispatcher.tick().enqueued == 0
    world.clock.advance(30)
    assert dispatcher.tick().enqueued == 4
    _round(world, tenants, 2, timeout=30)
    for tenant in tenants:
        _assert_in_step(world, tenant)
        assert len(world.runs(tenant)) == 2

    # New prospects for one tenant; its org holds the first create for 3 s, and the
    # worker running that cycle is killed while the create is in flight (the org
    # still carries it out: the records exist, the worker never learns their ids).
    victim = tenants[0]
    victim.add_prospects(25, seed=1000)
    victim.emulator.faults.inject("slow", path_contains="composite", delay=3.0)
    world.clock.advance(60)
    assert dispatcher.tick().enqueued == 4
    killed = _kill_mid_cycle(world, victim, workers)
    survivor = next(label for label in workers if label != killed)
    assert workers[survivor].poll() is None

    # Later dispatches find the lease taken (those tasks end without running) until it
    # expires; then the surviving worker resumes the integration.
    def resumed() -> bool:
        if _ran(world, victim) >= 3:
            return True
        world.clock.advance(60)
        dispatcher.tick()
        return False

    wait_for(
        resumed,
        timeout=40,
        what=f"{victim.name} resumed by worker {survivor}",
        every=0.5,
    )
    wait_for(world.drained, timeout=30, what="the queue to drain")
    _assert_in_step(world, victim)
    history = world.runs(victim)
    assert [r.status for r in history].count("interrupted") == 1
    for tenant in tenants:
        assert_no_overlap(world, tenant)
        _assert_in_step(world, tenant)
    assert workers[survivor].poll() is None


@pytest.mark.slow
def test_fifty_integrations_on_two_workers_for_a_bounded_time(
    world: WorkerWorld,
) -> None:
    """Fifty integrations with intervals of 1, 2 and 3 minutes over 12 minutes of
    dispatcher time: each ran at its interval, none overlapped, and a worker killed
    mid-cycle lost and duplicated nothing."""
    intervals = (60, 120, 180)
    tenants = world.add_tenants(
        50, prospects=10, interval=lambda i: intervals[i % len(intervals)]
    )
    workers = {
        "a": world.start_worker("a", concurrency=4),
        "b": world.start_worker("b", concurrency=4),
    }
    dispatcher = world.dispatcher()
    step = 30
    horizon = 12 * 60
    expected = collections.Counter[str]()
    started = time.monotonic()
    for elapsed in range(0, horizon + 1, step):
        if elapsed:
            world.clock.advance(step)
        tick = dispatcher.tick()
        due = [t for t in tenants if elapsed % t.interval == 0]
        assert tick.enqueued == len(due), elapsed
        for tenant in due:
            expected[tenant.name] += 1
        wait_for(
            lambda due=due: (  # type: ignore[misc]
                all(_ran(world, t) >= expected[t.name] for t in due) and world.drained()
            ),
            timeout=90,
            what=f"the cycles due at {elapsed}s",
        )
    for tenant in tenants:
        assert (
            _ran(world, tenant)
            == expected[tenant.name]
            == horizon // tenant.interval + 1
        )
        assert_no_overlap(world, tenant)
        _assert_in_step(world, tenant)

    victim = tenants[7]
    victim.add_prospects(40, seed=5000)
    victim.emulator.faults.inject("slow", path_contains="composite", delay=3.0)
    world.clock.advance(victim.interval)
    dispatcher.tick()
    killed = _kill_mid_cycle(world, victim, workers)
    before = _ran(world, victim)

    def resumed() -> bool:
        if _ran(world, victim) > before:
            return True
        world.clock.advance(step)
        dispatcher.tick()
        return False

    wait_for(resumed, timeout=90, what="the killed cycle resumed", every=0.5)
    wait_for(world.drained, timeout=60, what="the queue to drain")
    survivor = next(label for label in workers if label != killed)
    assert workers[survivor].poll() is None
    for tenant in tenants:
        assert_no_overlap(world, tenant)
        _assert_in_step(world, tenant)
    print(f"50 integrations, 12 dispatcher minutes: {time.monotonic() - started:.1f}s")
