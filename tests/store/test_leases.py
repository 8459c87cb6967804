"""The cycle lease dies with its holder (kill -9), and still fences a stalled holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from crmsync.models import Integration
from crmsync.store import open_store

# A holder in another process: takes the lease, starts a run, says so, then waits on
# stdin until it is killed (or told to go, which it never is here).
HOLDER = textwrap.dedent(
    """
    import sys
    from crmsync.store import open_store
    store = open_store(sys.argv[1])
    iid = int(sys.argv[2])
    assert store.leases.acquire(iid, "holder", seconds=float(sys.argv[3]))
    store.history.start_run(iid, dry_run=False)
    print("holding", flush=True)
    sys.stdin.read()
    """
)


@pytest.fixture
def store(database_url):
    store = open_store(database_url)
    yield store
    store.dispose()


@pytest.fixture
def holder(store, database_url):
    """A holder process for a fresh integration: yields (start, integration id)."""
    processes: list[subprocess.Popen[str]] = []
    iid = store.config.create_integration(
        Integration(name="leased", platform_connector="local", crm_connector="memory")
    ).id

    def start(lease_seconds: float = 3600) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, database_url, str(iid), str(lease_seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "holding"
        return process

    yield start, iid
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


def test_a_live_holder_keeps_the_lease(store, holder):
    start, iid = holder
    start()
    assert not store.leases.acquire(iid, "me", seconds=60)
    assert store.leases.cycle_alive(iid)


def test_a_killed_holder_releases_at_once_and_its_run_is_recorded_interrupted(
    store, holder
):
    start, iid = holder
    process = start(lease_seconds=3600)  # an hour: no waiting for a clock here
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert not store.leases.cycle_alive(iid)
    assert store.leases.acquire(iid, "me", seconds=60)
    (run,) = store.history.list_runs(iid)
    assert run.status == "interrupted"
    assert run.finished_at is not None
    # The lease is held again, now by a live owner.
    assert not store.leases.acquire(iid, "someone-else", seconds=60)
    store.leases.release(iid, "me")
    assert store.leases.acquire(iid, "someone-else", seconds=60)


def test_an_expired_lease_of_a_stalled_holder_is_taken_over_and_fences_it(
    store, holder, database_url
):
    start, iid = holder
    start(lease_seconds=-1)  # alive, but stalled past its lease
    assert store.leases.acquire(iid, "taker", seconds=60)
    # The stalled holder, renewing before a push, learns it lost the lease.
    other = open_store(database_url)
    try:
        assert not other.leases.acquire(iid, "holder", seconds=60)
    finally:
        other.dispose()


def test_a_renewal_fails_once_another_owner_took_the_lease(store):
    iid = store.config.create_integration(
        Integration(name="renewed", platform_connector="local", crm_connector="memory")
    ).id
    assert store.leases.acquire(iid, "a", seconds=60)
    assert store.leases.acquire(iid, "a", seconds=60)  # renewal
    with store.database.transaction() as tx:
        tx.exec_driver_sql("UPDATE leases SET owner = 'b'")
    assert not store.leases.acquire(iid, "a", seconds=60)
    store.leases.release(iid, "a")  # releases the holder lock; b's row stays
    assert store.leases.acquire(iid, "c", seconds=60)  # holder lock free: takes over
