"""``crmsync workers``, ``crmsync scheduler --once`` and ``crmsync worker``'s checks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crmsync.cli import app
from crmsync.models import Integration
from crmsync.store import open_store

from .conftest import REDIS_URL, forget_queue


@pytest.fixture
def url(tmp_path: Path) -> str:
    database = f"sqlite:///{tmp_path}/state.db"
    store = open_store(database)
    for name, active in (("acme", True), ("paused-one", False)):
        store.config.create_integration(
            Integration(
                name=name,
                platform_connector="local",
                crm_connector="local",
                active=active,
                interval_seconds=120,
            )
        )
    store.dispose()
    return database


def crmsync(url: str, *args: str) -> Any:
    return CliRunner().invoke(app, ["--database-url", url, *args])


def test_add_list_and_remove(url: str) -> None:
    added = crmsync(url, "workers", "add", "acme", "--budget-group", "acme-sf")
    assert added.exit_code == 0, added.output
    assert "'acme' runs on the workers, budget group acme-sf" in added.output
    assert "every 120s" in added.output
    paused = crmsync(url, "workers", "add", "paused-one")
    assert paused.exit_code == 0 and "once resumed" in paused.output

    listed = crmsync(url, "workers", "list")
    assert listed.exit_code == 0, listed.output
    assert "1 due now" in listed.output
    assert "acme-sf" in listed.output and "paused" in listed.output

    removed = crmsync(url, "workers", "remove", "acme")
    assert removed.exit_code == 0
    assert "`crmsync sync acme`" in removed.output
    again = crmsync(url, "workers", "remove", "acme")
    assert again.exit_code == 1
    assert "does not run on the workers" in again.output


def test_bad_input_is_one_line(url: str, tmp_path: Path) -> None:
    unknown = crmsync(url, "workers", "add", "nope")
    assert unknown.exit_code == 1 and "unknown integration 'nope'" in unknown.output
    group = crmsync(url, "workers", "add", "acme", "--budget-group", "two words")
    assert group.exit_code == 1 and "not a group name" in group.output
    missing = crmsync(f"sqlite:///{tmp_path}/none.db", "workers", "list")
    assert missing.exit_code == 1 and "no state database" in missing.output
    worker = crmsync(f"sqlite:///{tmp_path}/none.db", "worker")
    assert worker.exit_code == 1 and "no state database" in worker.output
    assert not (tmp_path / "none.db").exists()


def test_a_bad_worker_setting_names_its_variable(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMSYNC_WORKER_LEASE_SECONDS", "soon")
    result = crmsync(url, "worker")
    assert result.exit_code == 1
    assert "CRMSYNC_WORKER_LEASE_SECONDS" in result.output


@pytest.fixture
def queue(redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"crmsync-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("CRMSYNC_BROKER_URL", REDIS_URL)
    monkeypatch.setenv("CRMSYNC_WORKER_QUEUE", name)
    yield name
    forget_queue(redis_client, name)


def test_scheduler_once_enqueues_the_due_integrations(
    url: str, queue: str, redis_client: Any
) -> None:
    assert crmsync(url, "workers", "add", "acme").exit_code == 0
    assert crmsync(url, "workers", "add", "paused-one").exit_code == 0
    first = crmsync(url, "scheduler", "--once")
    assert first.exit_code == 0, first.output
    assert "enqueued 1 cycle " in first.output
    assert redis_client.llen(queue) == 1  # the paused one is not due
    second = crmsync(url, "scheduler", "--once")
    assert "enqueued 0 cycles" in second.output
    assert redis_client.llen(queue) == 1


def test_run_now_puts_one_task_on_the_queue(
    url: str, queue: str, redis_client: Any
) -> None:
    from crmsync.workers import Enqueued, enqueue_or_run

    assert crmsync(url, "workers", "add", "acme").exit_code == 0
    store = open_store(url)
    try:
        outcome = enqueue_or_run(store, "acme", lambda: "ran in-process")
    finally:
        store.dispose()
    assert isinstance(outcome, Enqueued) and outcome.queue == queue
    assert redis_client.llen(queue) == 1
    listed = crmsync(url, "workers", "list")
    assert "0 due now" in listed.output  # enqueued counts as its dispatch


def test_crmsync_sync_queues_the_cycle_of_an_integration_on_the_workers(
    url: str, queue: str, redis_client: Any
) -> None:
    assert crmsync(url, "workers", "add", "acme").exit_code == 0
    said = crmsync(url, "sync", "acme")
    assert said.exit_code == 0, said.output
    assert "queued for the workers" in said.output
    assert redis_client.llen(queue) == 1
    as_json = crmsync(url, "sync", "acme", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert '"queued": true' in as_json.output
    assert redis_client.llen(queue) == 2
    # A dry run still runs here: it writes nothing, so it needs no worker.
    assert "queued" not in crmsync(url, "sync", "acme", "--dry-run").output
