"""Fixtures for the Celery workers: real Redis, real PostgreSQL, real worker processes
(``crmsync worker``) running cycles against Salesforce emulators on loopback ports.

The dispatcher runs in the test process on an injected clock, so intervals of minutes
pass in a few real seconds; the tests wait for outcomes by polling the state store
with a deadline, never by sleeping a fixed time.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from crmsync.connectors.local import LocalStore
from crmsync.models import (
    CreationMode,
    CreationRule,
    Direction,
    Integration,
    Mapping,
    ObjectPair,
    SourceOfTruth,
)
from crmsync.store import RunRecord
from crmsync.store._schedule import DueCycle, worker_schedule
from crmsync.store._schema import leases, links, runs
from crmsync.workers import Dispatcher, WorkerStore, open_worker_store
from crmsync.workers._settings import WorkerSettings

REDIS_URL = os.environ.get("CRMSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
CLIENT_ID = "3MVG9crmsync.workers.test"
CLIENT_SECRET = "workers-test-client-secret-42"
LEASE_SECONDS = 4.0  # a killed worker's integration waits this long, not an hour
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def _redis_client() -> Any:
    import redis

    return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)


def ensure_redis() -> None:
    """Start the machine's Redis if it is down (as ``.ci/run`` does)."""
    import redis

    try:
        _redis_client().ping()
        return
    except redis.exceptions.ConnectionError:
        pass
    if shutil.which("redis-server"):
        for folder in ("/var/lib/redis", "/var/log/redis"):
            os.makedirs(folder, exist_ok=True)
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "-::1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                "/var/lib/redis",
                "--logfile",
                "/var/log/redis/ci.log",
            ],
            check=False,
            capture_output=True,
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            _redis_client().ping()
            return
        except redis.exceptions.ConnectionError:
            time.sleep(0.1)
    pytest.fail(f"Redis is not reachable at {REDIS_URL}")


@pytest.fixture
def redis_client() -> Iterator[Any]:
    ensure_redis()
    client = _redis_client()
    yield client
    client.close()


class FakeClock:
    """The dispatcher's clock: moves only when a test says so."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now


def wait_for(
    condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.05
) -> Any:
    """Poll ``condition`` until it is truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def lead_mappings() -> tuple[Mapping, ...]:
    return (
        Mapping(
            platform_field="email",
            crm_field="Email",
            direction=Direction.SYNC,
            platform_type="email",
            crm_type="email",
        ),
        Mapping(
            platform_field="first_name", crm_field="FirstName", direction=Direction.SYNC
        ),
        Mapping(
            platform_field="last_name", crm_field="LastName", direction=Direction.SYNC
        ),
        Mapping(
            platform_field="company",
            crm_field="Company",
            direction=Direction.TO_CRM,
            default="Unknown",
        ),
    )


def seed_prospects(path: Path, n: int, *, seed: int) -> None:
    """``n`` prospects whose emails every org accepts, unique for each ``seed``."""
    with LocalStore(path) as platform:
        platform.insert(
            {
                "email": f"p{seed}.{i}@tenant{seed}.example",
                "first_name": f"First{i}",
                "last_name": f"Last{seed}x{i}",
                "company": f"Company {seed}",
            }
            for i in range(n)
        )


@dataclass
class Tenant:
    """One integration: its platform file and its Salesforce org (an emulator)."""

    integration_id: int
    name: str
    platform_path: Path
    emulator: Any
    server: Any
    interval: int

    def prospects(self) -> int:
        with LocalStore(self.platform_path) as platform:
            return platform.count()

    def add_prospects(self, n: int, *, seed: int) -> None:
        seed_prospects(self.platform_path, n, seed=seed)

    def lead_emails(self) -> list[str]:
        return [
            str(record.get("Email")).casefold()
            for record in self.emulator.records["Lead"].values()
            if not record.get("IsDeleted")
        ]


@dataclass
class WorkerWorld:
    """A PostgreSQL state store, tenants, worker processes and a dispatcher."""

    tmp: Path
    database_url: str
    queue: str
    redis: Any
    clock: FakeClock = field(default_factory=FakeClock)
    tenants: list[Tenant] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _store: WorkerStore | None = None
    _app: Any = None

    # -- the state store ---------------------------------------------------------------
    @property
    def store(self) -> WorkerStore:
        if self._store is None:
            self._store = open_worker_store(
                self.database_url, lease_seconds=LEASE_SECONDS
            )
        return self._store

    def settings(self) -> WorkerSettings:
        return WorkerSettings(
            broker_url=REDIS_URL,
            worker_queue=self.queue,
            worker_lease_seconds=LEASE_SECONDS,
        )

    def add_tenants(
        self,
        count: int,
        *,
        prospects: int,
        interval: Callable[[int], int] = lambda _i: 60,
    ) -> list[Tenant]:
        from crmsync_salesforce.emulator import EmulatorServer, SalesforceEmulator

        for index in range(len(self.tenants), len(self.tenants) + count):
            emulator = SalesforceEmulator()
            emulator.register_app(CLIENT_ID, client_secret=CLIENT_SECRET)
            server = EmulatorServer(emulator).start()
            path = self.tmp / f"platform-{index}.db"
            seed_prospects(path, prospects, seed=index)
            every = interval(index)
            stored = self.store.config.create_integration(
                Integration(
                    name=f"tenant-{index}",
                    platform_connector="local",
                    crm_connector="salesforce",
                    platform_settings={"path": str(path)},
                    crm_settings={
                        "login_url": server.url,
                        "auth_flow": "client_credentials",
                        "client_id": CLIENT_ID,
                    },
                    source_of_truth=SourceOfTruth.BOTH,
                    active=True,
                    interval_seconds=every,
                    create_in_crm=CreationRule(
                        mode=CreationMode.ALL, target_object="Lead"
                    ),
                    object_pairs=(
                        ObjectPair(
                            platform_object="prospect",
                            crm_object="Lead",
                            mappings=lead_mappings(),
                        ),
                    ),
                )
            )
            assert stored.id is not None
            self.store.schedule.enroll(stored.id, now=self.clock())
            self.tenants.append(
                Tenant(stored.id, stored.name, path, emulator, server, every)
            )
        return self.tenants[-count:]

    # -- workers -----------------------------------------------------------------------
    def start_worker(
        self, label: str, *, concurrency: int = 2
    ) -> subprocess.Popen[bytes]:
        """``crmsync worker`` in a session of its own (so a kill reaches its pool)."""
        env = {
            **os.environ,
            "CRMSYNC_BROKER_URL": REDIS_URL,
            "CRMSYNC_WORKER_QUEUE": self.queue,
            "CRMSYNC_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
            "CRMSYNC_SALESFORCE_CLIENT_SECRET": CLIENT_SECRET,
            "CRMSYNC_LOG_LEVEL": "INFO",
            "PYTHONWARNINGS": "ignore",
        }
        log = (self.tmp / f"worker-{label}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from crmsync.cli import main; sys.argv[0] = 'crmsync'; "
                "main()",
                "--database-url",
                self.database_url,
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                str(concurrency),
                "--hostname",
                f"{label}-{self.queue}@%h",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.tmp,
        )
        log.close()
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """``kill -9`` the worker and everything in its session."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def worker_log(self, label: str) -> str:
        path = self.tmp / f"worker-{label}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- the dispatcher ----------------------------------------------------------------
    def dispatcher(self) -> Dispatcher:
        from crmsync.workers._celery import make_app, send_cycle

        settings = self.settings()
        if self._app is None:
            self._app = make_app(settings)
        app = self._app

        def enqueue(due: DueCycle) -> None:
            send_cycle(app, settings, due.integration_id, due.name)

        return Dispatcher(
            self.store, enqueue, batch=1000, clock=self.clock, sweep_seconds=0
        )

    # -- what happened -----------------------------------------------------------------
    def runs(self, tenant: Tenant) -> list[RunRecord]:
        return sorted(
            self.store.history.list_runs(tenant.integration_id, limit=1000),
            key=lambda r: (r.started_at, r.id),
        )

    def finished(self, tenant: Tenant) -> list[RunRecord]:
        return [r for r in self.runs(tenant) if r.finished_at is not None]

    def link_count(self, tenant: Tenant) -> int:
        with self.store.database.engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count())
                    .select_from(links)
                    .where(links.c.integration_id == tenant.integration_id)
                ).scalar()
                or 0
            )

    def lease_owner(self, tenant: Tenant) -> str | None:
        with self.store.database.engine.connect() as connection:
            owner = connection.execute(
                select(leases.c.owner).where(
                    leases.c.integration_id == tenant.integration_id
                )
            ).scalar()
        return None if owner is None else str(owner)

    def drained(self) -> bool:
        """No task waits in the queue and no cycle runs (no lease, none queued)."""
        with self.store.database.engine.connect() as connection:
            queued = connection.execute(
                select(func.count())
                .select_from(worker_schedule)
                .where(worker_schedule.c.queued_at.is_not(None))
            ).scalar()
            held = connection.execute(select(func.count()).select_from(leases)).scalar()
        return not queued and not held

    def clear_runs(self) -> None:
        with self.store.database.transaction() as tx:
            tx.execute(delete(runs))

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with _suppress():
                    os.killpg(process.pid, signal.SIGKILL)
            with _suppress():
                process.wait(timeout=10)
        for tenant in self.tenants:
            tenant.server.stop()
        if self._app is not None:
            self._app.close()
        forget_queue(self.redis, self.queue)
        if self._store is not None:
            self._store.dispose()


def forget_queue(client: Any, queue: str) -> None:
    """Delete what Redis keeps of a test's queue: the queue, kombu's bindings, and the
    unacknowledged tasks of killed workers (which kombu would restore into it)."""
    for key in client.scan_iter(f"*{queue}*"):
        client.delete(key)
    for tag, payload in client.hscan_iter("unacked"):
        if queue.encode() in payload:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


@pytest.fixture
def world(
    tmp_path: Path, postgres_url: str, redis_client: Any
) -> Iterator[WorkerWorld]:
    """A world whose worker processes are always killed and reaped at the end."""
    from crmsync.store import open_store

    open_store(postgres_url).dispose()  # the state store exists, as after `create`
    built = WorkerWorld(
        tmp=tmp_path,
        database_url=postgres_url,
        queue=f"crmsync-test-{uuid.uuid4().hex[:10]}",
        redis=redis_client,
    )
    try:
        yield built
    finally:
        built.close()


def assert_no_overlap(world: WorkerWorld, tenant: Tenant) -> None:
    """No two cycles of ``tenant`` overlapped, by its run records: each started after
    the one before finished; after one interrupted by a killed worker, not before
    that worker's lease expired."""
    history = world.runs(tenant)
    for before, after in itertools.pairwise(history):
        assert before.finished_at is not None, (tenant.name, before)
        assert after.started_at >= before.finished_at, (tenant.name, before, after)
        if before.status == "interrupted":
            gap = (after.started_at - before.started_at).total_seconds()
            assert gap >= LEASE_SECONDS - 0.5, (tenant.name, before, after)
