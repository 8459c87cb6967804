"""What a cycle task does before and around the cycle, in-process (the real-worker
tests run whole cycles): a task never runs a cycle it must not."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmsync.models import Integration
from crmsync.settings import CrmsyncSettings
from crmsync.store import open_store
from crmsync.workers import WorkerStore, open_worker_store, run_task_cycle

NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WorkerStore]:
    url = f"sqlite:///{tmp_path}/state.db"
    open_store(url).dispose()
    opened = open_worker_store(url, lease_seconds=60)
    yield opened
    opened.dispose()


def _add(
    store: WorkerStore, name: str, *, crm: str = "salesforce", active: bool = True
) -> int:
    stored = store.config.create_integration(
        Integration(
            name=name,
            platform_connector="local",
            crm_connector=crm,
            platform_settings={"path": "platform.db"},
            active=active,
        )
    )
    assert stored.id is not None
    store.schedule.enroll(stored.id, now=NOW)
    store.schedule.mark_queued(stored.id, NOW)
    return stored.id


def _run(store: WorkerStore, iid: int, name: str) -> str:
    outcome = run_task_cycle(
        store,
        CrmsyncSettings(database_url=store.database.url),
        iid,
        name,
        clock=lambda: NOW,
    )
    entry = store.schedule.schedule_entry(iid)
    # Picked up: no longer queued, whatever the outcome.
    assert entry is None or (entry.queued_at is None and entry.started_at == NOW)
    return outcome.outcome


def test_paused_unknown_and_renamed_integrations_do_not_run(store: WorkerStore) -> None:
    paused = _add(store, "paused", active=False)
    assert _run(store, paused, "paused") == "paused"
    assert _run(store, 999, "nobody") == "unknown"
    other = _add(store, "other")
    assert _run(store, other + 1, "other") == "unknown"  # an id that is not its own
    assert store.history.list_runs(paused) == []


def test_a_busy_integration_ends_without_a_run(
    store: WorkerStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMSYNC_SALESFORCE_CLIENT_SECRET", "not-used-secret-1234")
    stored = store.config.create_integration(
        Integration(
            name="acme",
            platform_connector="local",
            crm_connector="salesforce",
            platform_settings={"path": str(tmp_path / "platform.db")},
            crm_settings={
                "login_url": "https://acme.my.salesforce.com",
                "auth_flow": "client_credentials",
                "client_id": "3MVG9crmsync.busy",
            },
            active=True,
        )
    )
    assert stored.id is not None
    store.schedule.enroll(stored.id, now=NOW)
    # Another worker's cycle holds the lease: this task ends before any vendor call.
    assert store.leases.acquire(stored.id, "another-worker", seconds=60)
    outcome = run_task_cycle(
        store, CrmsyncSettings(database_url=store.database.url), stored.id, "acme"
    )
    assert outcome.outcome == "busy"
    assert store.history.list_runs(stored.id) == []


def test_a_connector_that_cannot_load_refuses_in_one_line(store: WorkerStore) -> None:
    iid = _add(store, "acme", crm="no-such-connector")
    outcome = run_task_cycle(
        store, CrmsyncSettings(database_url=store.database.url), iid, "acme"
    )
    assert outcome.outcome == "refused"
    assert outcome.message is not None and "no-such-connector" in outcome.message
    assert "\n" not in outcome.message
    assert store.history.list_runs(iid) == []
