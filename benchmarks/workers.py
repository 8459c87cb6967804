"""Cycles on Celery workers: throughput, and what the dispatcher costs per tick.

    uv run python -m benchmarks.workers                         # both parts, defaults
    uv run python -m benchmarks.workers --only throughput --integrations 200
    uv run python -m benchmarks.workers --only dispatcher --sizes 1000,10000,20000
    uv run python -m benchmarks.workers --json workers.json

**Throughput**: N integrations (``local`` platform files, one Salesforce emulator org
each, all emulators served from one child process) on PostgreSQL; real ``crmsync
worker`` processes (``--pool threads``) on Redis. A round enqueues one cycle of every
integration at once and ends when every one has finished; cycles per minute is N over
the round's time. *Idle* rounds find nothing changed; *busy* rounds find 10 new
prospects and 10 edited leads per integration. Each shape runs on one and on two
workers.

**Dispatcher**: N enrolled integrations inserted directly on PostgreSQL, with and
without a million links; the time of one tick (the due query, the claim, a no-op
enqueue) with nothing due and with 1% due, median of 15 ticks. It reads the schedule
and the integrations only, so links must not change it.

Needs PostgreSQL on 127.0.0.1:5432 (trust) and Redis on 127.0.0.1:6379 (db 7); see
docs/scale.md for the figures and what they mean for 10,000 integrations.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CLIENT_ID = "3MVG9crmsync.bench.workers"
CLIENT_SECRET = "bench-workers-secret-123456"
PG_ADMIN = os.environ.get(
    "CRMSYNC_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("CRMSYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


# -- PostgreSQL ------------------------------------------------------------------------
@contextmanager
def database() -> Iterator[str]:
    import psycopg

    name = f"crmsync_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- emulators in a child process ------------------------------------------------------
def _emulators(count: int, pipe: Any) -> None:
    from crmsync_salesforce.emulator import EmulatorServer, SalesforceEmulator

    orgs, servers = [], []
    for _ in range(count):
        org = SalesforceEmulator(daily_limit=10_000_000)
        org.register_app(CLIENT_ID, client_secret=CLIENT_SECRET)
        orgs.append(org)
        servers.append(EmulatorServer(org).start())
    pipe.send([server.url for server in servers])
    while True:
        command, argument = pipe.recv()
        if command == "stop":
            break
        if command == "touch":  # edit `argument` leads of every org
            for org in orgs:
                for record_id in list(org.records["Lead"])[:argument]:
                    org.touch("Lead", record_id, FirstName=f"Edited{time.time_ns()}")
            pipe.send(True)
        elif command == "requests":
            pipe.send(sum(len(org.requests) for org in orgs))
    # The servers' threads are daemons: they end with this process (stopping 200
    # servers one by one waits half a second each).
    del servers


class Orgs:
    def __init__(self, count: int) -> None:
        context = mp.get_context("fork")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_emulators, args=(count, child))
        self._process.start()
        self.urls: list[str] = self._pipe.recv()

    def touch(self, leads: int) -> None:
        self._pipe.send(("touch", leads))
        self._pipe.recv()

    def close(self) -> None:
        self._pipe.send(("stop", None))
        self._process.join(timeout=30)


# -- the world -------------------------------------------------------------------------
def _seed(path: Path, n: int, *, tag: str) -> None:
    from crmsync.connectors.local import LocalStore

    with LocalStore(path) as platform:
        platform.insert(
            {
                "email": f"p{tag}.{i}@bench.example",
                "first_name": f"First{i}",
                "last_name": f"Last{i}",
                "company": f"Company {tag}",
            }
            for i in range(n)
        )


def _create(store: Any, index: int, url: str, folder: Path, prospects: int) -> int:
    from crmsync.models import (
        CreationMode,
        CreationRule,
        Direction,
        Integration,
        Mapping,
        ObjectPair,
    )

    path = folder / f"platform-{index}.db"
    _seed(path, prospects, tag=f"{index}.0")
    mappings = (
        Mapping(platform_field="email", crm_field="Email", direction=Direction.SYNC),
        Mapping(
            platform_field="first_name", crm_field="FirstName", direction=Direction.SYNC
        ),
        Mapping(
            platform_field="last_name", crm_field="LastName", direction=Direction.SYNC
        ),
        Mapping(
            platform_field="company", crm_field="Company", direction=Direction.TO_CRM
        ),
    )
    stored = store.config.create_integration(
        Integration(
            name=f"bench-{index}",
            platform_connector="local",
            crm_connector="salesforce",
            platform_settings={"path": str(path)},
            crm_settings={
                "login_url": url,
                "auth_flow": "client_credentials",
                "client_id": CLIENT_ID,
            },
            active=True,
            interval_seconds=60,
            create_in_crm=CreationRule(mode=CreationMode.ALL, target_object="Lead"),
            object_pairs=(
                ObjectPair(
                    platform_object="prospect", crm_object="Lead", mappings=mappings
                ),
            ),
        )
    )
    store.schedule.enroll(stored.id, now=T0)
    return int(stored.id)


def _start_worker(
    url: str, queue: str, label: str, concurrency: int, folder: Path
) -> Any:
    env = {
        **os.environ,
        "CRMSYNC_BROKER_URL": REDIS_URL,
        "CRMSYNC_WORKER_QUEUE": queue,
        "CRMSYNC_SALESFORCE_CLIENT_SECRET": CLIENT_SECRET,
        "CRMSYNC_LOG_LEVEL": "WARNING",
    }
    log = (folder / f"worker-{label}.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from crmsync.cli import main; sys.argv[0] = 'crmsync'; main()",
            "--database-url",
            url,
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{label}-{queue}@%h",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return process


def _stop(processes: list[Any]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _cpu_seconds(processes: list[Any]) -> float:
    """User and system CPU of the worker processes so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for process in processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _finished_runs(store: Any) -> int:
    from sqlalchemy import func, select

    from crmsync.store._schema import runs

    with store.database.engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count())
                .select_from(runs)
                .where(runs.c.finished_at.is_not(None))
            ).scalar()
            or 0
        )


def _round(store: Any, dispatcher: Any, clock: list[dt.datetime], n: int) -> float:
    """Enqueue every integration once; seconds until all n cycles finished."""
    before = _finished_runs(store)
    clock[0] += dt.timedelta(seconds=60)
    started = time.perf_counter()
    sent = dispatcher.tick().enqueued
    if sent != n:
        raise RuntimeError(f"enqueued {sent} of {n}: a task from the last round waits")
    deadline = time.monotonic() + 1800
    while _finished_runs(store) < before + n:
        if time.monotonic() > deadline:
            raise RuntimeError("round did not finish in 30 minutes")
        time.sleep(0.05)
    return time.perf_counter() - started


def throughput(n: int, worker_counts: list[int], concurrency: int) -> dict[str, Any]:
    from crmsync.store import open_store
    from crmsync.workers import Dispatcher, open_worker_store
    from crmsync.workers._celery import make_app, send_cycle
    from crmsync.workers._settings import WorkerSettings

    results: dict[str, Any] = {
        "integrations": n,
        "concurrency": concurrency,
        "rounds": [],
    }
    queue = f"crmsync-bench-{uuid.uuid4().hex[:8]}"
    settings = WorkerSettings(broker_url=REDIS_URL, worker_queue=queue)
    app = make_app(settings)
    with database() as url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        open_store(url).dispose()
        store = open_worker_store(url, lease_seconds=600)
        orgs = Orgs(n)
        clock = [T0]

        def enqueue(due: Any) -> None:
            send_cycle(app, settings, due.integration_id, due.name)

        dispatcher = Dispatcher(store, enqueue, clock=lambda: clock[0])
        try:
            ids = [_create(store, i, orgs.urls[i], folder, 20) for i in range(n)]
            print(f"{n} integrations created", flush=True)
            for shape in ("idle", "busy"):
                for count in worker_counts:
                    workers = [
                        _start_worker(url, queue, f"w{k}", concurrency, folder)
                        for k in range(count)
                    ]
                    try:
                        if not results["rounds"]:
                            # The first cycles (initial sync) are not measured.
                            _round(store, dispatcher, clock, n)
                        if shape == "busy":
                            for i in range(n):
                                _seed(
                                    folder / f"platform-{i}.db",
                                    10,
                                    tag=f"{i}.{time.time_ns()}",
                                )
                            orgs.touch(10)
                        cpu_before = _cpu_seconds(workers)
                        seconds = _round(store, dispatcher, clock, n)
                        cpu = _cpu_seconds(workers) - cpu_before
                    finally:
                        _stop(workers)
                    row = {
                        "shape": shape,
                        "workers": count,
                        "seconds": round(seconds, 2),
                        "cycles_per_minute": round(n / seconds * 60, 1),
                        "worker_cpu_ms_per_cycle": round(cpu / n * 1000, 1),
                    }
                    results["rounds"].append(row)
                    print(json.dumps(row), flush=True)
            del ids
        finally:
            orgs.close()
            store.dispose()
            app.close()
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"*{queue}*"):
                client.delete(key)
    return results


# -- the dispatcher --------------------------------------------------------------------
def _bulk(store: Any, n: int, links_total: int) -> None:
    from crmsync.store._schedule import worker_schedule
    from crmsync.store._schema import integrations

    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "name": f"bulk-{i}",
            "platform_connector": "local",
            "crm_connector": "salesforce",
            "platform_settings": {},
            "crm_settings": {},
            "source_of_truth": "both",
            "active": True,
            "interval_seconds": 300,
            "create_in_crm": {"mode": "never"},
            "create_in_platform": {"mode": "never"},
            "created_at": now,
            "updated_at": now,
        }
        for i in range(n)
    ]
    with store.database.transaction() as tx:
        for start in range(0, n, 5000):
            tx.execute(integrations.insert(), rows[start : start + 5000])
        ids = [
            row[0]
            for row in tx.execute(
                integrations.select().with_only_columns(integrations.c.id)
            )
        ]
        # Spread over the next hour: nothing due at T0.
        tx.execute(
            worker_schedule.insert(),
            [
                {
                    "integration_id": iid,
                    "due_at": T0 + dt.timedelta(seconds=60 + (k % 3600)),
                    "interval_seen": 300,
                    "enrolled_at": T0,
                }
                for k, iid in enumerate(ids)
            ],
        )
    if links_total:
        with store.database.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO links (integration_id, platform_object, platform_id, "
                "crm_object, crm_id, baseline, created_at, updated_at) "
                f"SELECT {ids[0]} + mod(g, {len(ids)}), 'prospect', 'P' || g, 'Lead', "
                "'L' || g, '{}', now(), now() "
                f"FROM generate_series(1, {links_total}) AS g"
            )
            connection.exec_driver_sql("ANALYZE")


def _tick_cost(store: Any, n: int, due_share: float) -> tuple[float, float]:
    """Median seconds of a tick (no sweep) and of a sweep."""
    from sqlalchemy import update

    from crmsync.store._schedule import worker_schedule
    from crmsync.workers import Dispatcher

    dispatcher = Dispatcher(
        store, lambda _due: None, clock=lambda: T0, sweep_seconds=10**9
    )
    dispatcher.tick()  # the first tick sweeps; the measured ones do not
    ticks, sweeps = [], []
    for _ in range(15):
        due = int(n * due_share)
        with store.database.transaction() as tx:
            # Nothing queued; the first `due` integrations due now, the rest later.
            tx.execute(update(worker_schedule).values(queued_at=None))
            if due:
                tx.execute(
                    update(worker_schedule)
                    .where(worker_schedule.c.integration_id <= due)
                    .values(due_at=T0)
                )
        tick = dispatcher.tick()
        if tick.enqueued != due:
            raise RuntimeError(f"expected {due} due, claimed {tick.enqueued}")
        ticks.append(tick.seconds)
        started = time.perf_counter()
        store.schedule.sweep()
        sweeps.append(time.perf_counter() - started)
    return statistics.median(ticks), statistics.median(sweeps)


def dispatcher_cost(sizes: list[int], links_total: int) -> list[dict[str, Any]]:
    from crmsync.store import open_store
    from crmsync.workers import open_worker_store

    rows = []
    for n in sizes:
        for with_links in (0, links_total) if n == max(sizes) else (0,):
            with database() as url:
                open_store(url).dispose()
                store = open_worker_store(url, lease_seconds=600)
                try:
                    _bulk(store, n, with_links)
                    idle, sweep = _tick_cost(store, n, 0.0)
                    busy, _ = _tick_cost(store, n, 0.01)
                    row = {
                        "integrations": n,
                        "links": with_links,
                        "tick_ms_none_due": round(idle * 1000, 2),
                        "tick_ms_1pct_due": round(busy * 1000, 2),
                        "sweep_ms": round(sweep * 1000, 2),
                    }
                finally:
                    store.dispose()
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("throughput", "dispatcher"))
    parser.add_argument("--integrations", type=int, default=200)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sizes", default="1000,5000,10000,20000")
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    from crmsync.logs import configure_logging

    configure_logging(fmt="console", level="WARNING")
    report: dict[str, Any] = {"cpus": os.cpu_count()}
    if options.only in (None, "dispatcher"):
        sizes = [int(size) for size in options.sizes.split(",")]
        report["dispatcher"] = dispatcher_cost(sizes, options.links)
    if options.only in (None, "throughput"):
        counts = [int(count) for count in options.workers.split(",")]
        report["throughput"] = throughput(
            options.integrations, counts, options.concurrency
        )
    if options.json:
        options.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
