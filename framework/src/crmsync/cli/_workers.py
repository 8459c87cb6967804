"""``crmsync worker``, ``crmsync scheduler`` and ``crmsync workers``: cycles on Celery
workers (the ``crmsync[celery]`` extra).

``crmsync workers add NAME`` moves an integration's cycles to the workers; ``crmsync
scheduler`` enqueues them as they fall due; ``crmsync worker`` runs them.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table

from crmsync.cli._state import CliState, out, state_of
from crmsync.errors import ConfigurationError
from crmsync.store import stored_id
from crmsync.store._schedule import PARKED
from crmsync.workers import (
    Dispatcher,
    WorkerStore,
    open_worker_store,
)
from crmsync.workers._settings import WorkerSettings, load_worker_settings

__all__ = ["app", "register"]

app = typer.Typer(
    help="Which integrations run on the Celery workers (`crmsync worker`, "
    "`crmsync scheduler`).",
    no_args_is_help=True,
)

_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


class Pool(enum.StrEnum):
    """``--pool``: how a worker runs tasks at once."""

    PREFORK = "prefork"
    THREADS = "threads"
    SOLO = "solo"


def _celery() -> Any:
    try:
        from crmsync.workers import _celery
    except ImportError:
        raise ConfigurationError(
            "Celery is not installed",
            hint="install the extra: pip install 'crmsync[celery]'",
        ) from None
    return _celery


def _store(state: CliState, settings: WorkerSettings) -> WorkerStore:
    framework = state.get_settings()
    return open_worker_store(
        framework.database_url,
        lease_seconds=settings.worker_lease_seconds,
        sqlite_cache_mb=framework.sqlite_cache_mb,
    )


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            help="Cycles this worker runs at once (default: the number of CPUs).",
            show_default=False,
        ),
    ] = None,
    pool: Annotated[
        Pool,
        typer.Option(
            "--pool",
            help="prefork (processes, the default), threads or solo (one at a time, "
            "in this process).",
            case_sensitive=False,
        ),
    ] = Pool.PREFORK,
    hostname: Annotated[
        str | None,
        typer.Option(
            "--hostname",
            help="The worker's node name (default: celery@<host>).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run cycle tasks from the queue until stopped.

    Ctrl-C or SIGTERM finish the running cycles first.
    """
    state = state_of(ctx)
    settings = load_worker_settings()
    _store(state, settings).dispose()  # a missing or foreign store fails here, once
    celery = _celery()
    application = celery.make_app(settings, state.get_settings())
    argv = [
        "worker",
        f"--loglevel={state.get_settings().log_level}",
        f"--queues={settings.worker_queue}",
        f"--pool={pool.value}",
        "--without-gossip",
        "--without-mingle",
    ]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    if hostname is not None:
        argv.append(f"--hostname={hostname}")
    celery.start_worker(application, argv)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def scheduler(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option("--once", help="Run one tick, print what it enqueued, and exit."),
    ] = False,
) -> None:
    """Enqueue the cycles of integrations on the workers as they fall due.

    Looks every CRMSYNC_SCHEDULER_TICK_SECONDS, until Ctrl-C or SIGTERM.
    """
    state = state_of(ctx)
    settings = load_worker_settings()
    celery = _celery()
    store = _store(state, settings)
    application = celery.make_app(settings, state.get_settings())
    try:
        dispatcher = Dispatcher(
            store,
            lambda due: celery.send_cycle(
                application, settings, due.integration_id, due.name
            ),
            batch=settings.scheduler_batch,
            requeue_seconds=settings.scheduler_requeue_seconds,
            sweep_seconds=settings.scheduler_sweep_seconds,
        )
        if once:
            tick = dispatcher.tick()
            out().print(
                f"enqueued {tick.enqueued} cycle{'s' if tick.enqueued != 1 else ''} "
                f"in {tick.seconds * 1000:.1f} ms",
                markup=False,
            )
            return
        stop = threading.Event()
        out().print(
            f"dispatching every {settings.scheduler_tick_seconds:g}s to queue "
            f"{settings.worker_queue} (Ctrl-C to stop)",
            markup=False,
        )
        with _stop_on_signals(stop):
            dispatcher.run(stop, tick_seconds=settings.scheduler_tick_seconds)
        out().print("dispatcher stopped", markup=False)
    finally:
        application.close()
        store.dispose()


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The integration's name.", show_default=False)
    ],
    budget_group: Annotated[
        str | None,
        typer.Option(
            "--budget-group",
            help="Share one API budget with the other integrations of this group "
            "(one group per vendor org).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run NAME's cycles on the workers: due at once, then every interval."""
    if budget_group is not None and not _GROUP.match(budget_group):
        raise ConfigurationError(
            f"--budget-group {budget_group!r}: not a group name",
            hint="use up to 128 letters, digits and . _ : @ - (e.g. acme-salesforce)",
        )
    state = state_of(ctx)
    store = state.existing_store()
    integration = store.config.get_integration(name)
    schedule = store.schedule
    schedule.enroll(
        stored_id(integration),
        now=dt.datetime.now(dt.UTC),
        budget_group=budget_group,
    )
    group = f", budget group {budget_group}" if budget_group else ""
    paused = "" if integration.active else " once resumed"
    out().print(
        f"integration {name!r} runs on the workers{group}: `crmsync scheduler` "
        f"enqueues a cycle every {integration.interval_seconds}s{paused}",
        markup=False,
    )


@app.command("remove")
def remove(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The integration's name.", show_default=False)
    ],
) -> None:
    """Run NAME's cycles in-process again (`crmsync sync`).

    A cycle running on a worker finishes.
    """
    state = state_of(ctx)
    store = state.existing_store()
    integration = store.config.get_integration(name)
    if not store.schedule.withdraw(stored_id(integration)):
        raise ConfigurationError(
            f"integration {name!r} does not run on the workers",
            hint=f"`crmsync workers add {name}` moves it there",
        )
    out().print(
        f"integration {name!r} no longer runs on the workers; run its cycles with "
        f"`crmsync sync {name}`",
        markup=False,
    )


def _ago(moment: dt.datetime | None, now: dt.datetime) -> str:
    if moment is None:
        return "-"
    seconds = int((now - moment).total_seconds())
    return f"in {-seconds}s" if seconds < 0 else f"{seconds}s ago"


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Show at most this many.")
    ] = 100,
) -> None:
    """The integrations on the workers, soonest due first."""
    state = state_of(ctx)
    store = state.existing_store()
    schedule = store.schedule
    now = dt.datetime.now(dt.UTC)
    entries = schedule.list_schedule(limit=limit)
    if not entries:
        out().print(
            "no integration runs on the workers (`crmsync workers add NAME`)",
            markup=False,
        )
        return
    table = Table(title=f"on the workers ({schedule.count_due(now)} due now)")
    for column in ("name", "state", "interval", "due", "queued", "started", "budget"):
        table.add_column(column)
    for entry in entries:
        table.add_row(
            entry.name,
            "active" if entry.active else "paused",
            f"{entry.interval_seconds}s",
            "-" if entry.due_at >= PARKED else _ago(entry.due_at, now),
            _ago(entry.queued_at, now),
            _ago(entry.started_at, now),
            entry.budget_group or "-",
        )
    out().print(table)


def register(root: typer.Typer) -> None:
    """Add ``worker``, ``scheduler`` and ``workers`` to the ``crmsync`` command."""
    root.command("worker")(worker)
    root.command("scheduler")(scheduler)
    root.add_typer(app, name="workers")
