"""``crmsync sync``: one cycle, a dry run, or cycles every interval (``--watch``)."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import structlog
import typer

from crmsync import operations as ops
from crmsync.cli._errors import clean_line
from crmsync.cli._report import CycleProgress, print_planned, print_summary
from crmsync.cli._state import CliState, err_console, out, state_of
from crmsync.engine import CycleReport
from crmsync.errors import ConfigurationError
from crmsync.logs import REPORTED_BY_CALLER

__all__ = ["StopFlag", "run_one_cycle", "sync"]


class StopFlag:
    """Set by the first Ctrl-C: the cycle stops after its current batch, keeping what
    it read and wrote, and ``--watch`` runs no further cycle. A second Ctrl-C stops at
    once.
    """

    def __init__(self) -> None:
        self.stopping = False

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def on_interrupt(_signum: int, _frame: Any) -> None:
            if self.stopping:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.stopping = True
            out().print(
                "\nstopping after the current batch (Ctrl-C again to stop now)",
                markup=False,
            )

        previous = signal.signal(signal.SIGINT, on_interrupt)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


def run_one_cycle(
    state: CliState,
    name: str,
    *,
    dry_run: bool,
    connections: ops.ConnectionCache | None = None,
    stop: StopFlag | None = None,
    command: str = "crmsync",
    as_json: bool = False,
    json_lines: bool = False,
) -> CycleReport:
    """Run one cycle of ``name`` with the live display, then print its summary (or,
    with ``as_json``, its JSON summary and nothing else).

    ``connections`` keeps an integration's two connections open between the cycles of
    ``--watch``. ``command`` starts the commands the summary suggests (the demo adds
    its ``--database-url``).
    """
    console = out()
    should_stop = (lambda: stop.stopping) if stop is not None else None
    # A failed cycle's cause is this command's one `error:` line (or the JSON summary),
    # not the engine's log line as well.
    with structlog.contextvars.bound_contextvars(**{REPORTED_BY_CALLER: True}):
        return _run_and_show(
            state,
            name,
            console,
            dry_run,
            should_stop,
            connections,
            command,
            as_json,
            json_lines,
        )


def _run_and_show(
    state: CliState,
    name: str,
    console: Any,
    dry_run: bool,
    should_stop: Callable[[], bool] | None,
    connections: ops.ConnectionCache | None,
    command: str,
    as_json: bool,
    json_lines: bool,
) -> CycleReport:
    if as_json:
        report = ops.run_cycle(
            state,
            name,
            dry_run=dry_run,
            should_stop=should_stop,
            connections=connections,
        )
        summary = ops.cycle_summary(report)
        typer.echo(summary.model_dump_json(indent=None if json_lines else 2))
        return report
    with CycleProgress(console) as progress:
        report = ops.run_cycle(
            state,
            name,
            dry_run=dry_run,
            progress=progress,
            should_stop=should_stop,
            connections=connections,
        )
    if dry_run:
        print_planned(console, report.planned)
    print_summary(console, report, command=command)
    return report


@contextmanager
def _closing(connections: ops.ConnectionCache) -> Iterator[None]:
    try:
        yield
    finally:
        for platform, crm in connections.values():
            platform.close()
            crm.close()


def _wait(seconds: float, flag: StopFlag, sleep: Callable[[float], None]) -> None:
    # Count the time slept rather than read a clock, so that an injected sleep (tests)
    # is not a busy loop until the real deadline.
    left = seconds
    while left > 0 and not flag.stopping:
        step = min(left, 0.5)
        sleep(step)
        left -= step


def sync(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The integration's name.", show_default=False)
    ],
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Run a cycle every interval until Ctrl-C (which stops after the "
            "current batch); exits 1 if the last cycle failed.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Read and decide, write nothing (not even a missing local platform "
            "file); print every write the cycle would make.",
        ),
    ] = False,
    count: Annotated[
        int | None,
        typer.Option(
            "--count",
            metavar="N",
            help="With --watch: stop after this many cycles.",
            min=1,
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the cycle's summary as a JSON object instead of tables "
            "(with --watch: one object per line, per cycle; other lines go to "
            "stderr).",
        ),
    ] = False,
) -> None:
    """Run one sync cycle of NAME (or, with --watch, one every interval)."""
    if count is not None and not watch:
        raise ConfigurationError(
            "--count needs --watch: without it one cycle runs",
            hint=f"add --watch, or drop --count {count}",
        )
    state = state_of(ctx)
    flag = StopFlag()
    if not watch:
        queued = None if dry_run else ops.enqueue_if_on_workers(state, name)
        if queued is not None:  # it runs on the Celery workers: they run it
            if as_json:
                receipt = {"queued": True, "task_id": queued.task_id}
                typer.echo(json.dumps(receipt | {"queue": queued.queue}))
            else:
                out().print(queued.describe(), markup=False)
            return
        with flag.installed():
            report = run_one_cycle(
                state, name, dry_run=dry_run, stop=flag, as_json=as_json
            )
        _exit_if_failed(report, name)
        return
    sleep = state.sleep or time.sleep
    # With --json, stdout carries only the summaries.
    chatter = err_console() if as_json else out()
    cycles = 0
    open_connections: ops.ConnectionCache = {}
    with flag.installed(), _closing(open_connections):
        while True:
            report = run_one_cycle(
                state,
                name,
                dry_run=dry_run,
                connections=open_connections,
                stop=flag,
                as_json=as_json,
                json_lines=True,
            )
            cycles += 1
            if flag.stopping or (count is not None and cycles >= count):
                break
            interval = ops.get_integration(state, name).interval_seconds
            chatter.print(f"next cycle in {interval}s (Ctrl-C to stop)", markup=False)
            _wait(interval, flag, sleep)
            if flag.stopping:
                break
    chatter.print(
        f"stopped after {cycles} cycle{'s' if cycles != 1 else ''}", markup=False
    )
    # A watch that ends on a failed cycle fails, as one cycle would; one that
    # recovered from earlier failures does not.
    _exit_if_failed(report, name)


def _exit_if_failed(report: CycleReport, name: str) -> None:
    """A failed cycle ends the command with its cause as the one ``error:`` line."""
    if report.status != "failed":
        return
    # The summary went to stdout; the cause is the one line a script or an operator's
    # terminal shows on stderr, as for every other failed command.
    message = report.message or f"the cycle of {name!r} failed"
    typer.echo(f"error: {clean_line(message)}", err=True)
    raise typer.Exit(1)
