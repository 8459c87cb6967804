"""Rendering a cycle: live progress per object and side, summary, dry-run writes."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from crmsync.engine import CycleReport, PlannedWrite
from crmsync.engine import Progress as Tick

__all__ = ["CycleProgress", "print_planned", "print_summary"]

_STAGE_VERB = {"read": "reading", "decide": "deciding", "write": "writing"}


class CycleProgress:
    """A Rich live display fed by the engine's ``Progress`` callbacks.

    One line per (stage, side, object); on a non-terminal the display stays silent and
    only the summary is printed.
    """

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:>8,.0f}{task.fields[of]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not console.is_terminal,
        )
        self._tasks: dict[tuple[str, str, str], TaskID] = {}

    def __enter__(self) -> CycleProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._progress.tasks:
            if task.total is None:
                self._progress.update(task.id, total=max(task.completed, 1))
        self._progress.stop()

    def __call__(self, tick: Tick) -> None:
        key = (tick.stage, tick.side, tick.object_name)
        of = f" / {tick.total:,}" if tick.total else ""
        if key not in self._tasks:
            verb = _STAGE_VERB.get(tick.stage, tick.stage)
            description = f"{verb} {tick.side} {tick.object_name}"
            self._tasks[key] = self._progress.add_task(
                description, total=tick.total, of=of
            )
        self._progress.update(
            self._tasks[key], completed=tick.done, total=tick.total, of=of
        )


def _value(value: Any) -> str:
    if value is None:
        return "∅"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def print_planned(console: Console, planned: list[PlannedWrite]) -> None:
    """Every write a dry run would make, field by field, with the deciding rule."""
    if not planned:
        console.print("dry run: no writes would be made", markup=False)
        return
    table = Table(
        title=f"dry run: {len(planned):,} field writes would be made",
        title_justify="left",
    )
    for column in ("side", "object", "record", "op", "field", "old", "new", "rule"):
        table.add_column(column, overflow="fold")
    for write in planned:
        table.add_row(
            write.side,
            write.object_name,
            write.record_id or "(new)",
            write.op,
            write.field,
            _value(write.old),
            _value(write.new),
            write.rule,
        )
    console.print(table)


def print_summary(
    console: Console, report: CycleReport, *, command: str = "crmsync"
) -> None:
    """Counts per side, decisions by rule, links and errors of one cycle.

    ``command`` starts the command it suggests (with the global options it needs).
    """
    colour = {"succeeded": "green", "partial": "yellow"}.get(report.status, "red")
    title = (
        f"{'dry run' if report.dry_run else 'cycle'} of {report.integration}: "
        f"[{colour}]{report.status}[/{colour}] in {report.duration_seconds:.1f}s"
    )
    table = Table(title=title, title_justify="left")
    for column in ("side", "read", "deleted", "created", "updated", "failed"):
        table.add_column(column, justify="left" if column == "side" else "right")
    for side in ("platform", "crm"):
        counts = report.side(side)
        table.add_row(
            side,
            *(
                f"{n:,}"
                for n in (
                    counts.read,
                    counts.deleted,
                    counts.created,
                    counts.updated,
                    counts.failed,
                )
            ),
        )
    console.print(table)
    links = (
        f"links: {report.linked:,} new, {report.relinked:,} relinked, "
        f"{report.unlinked:,} unlinked, {report.ambiguous:,} ambiguous matches"
    )
    console.print(links, markup=False)
    if report.decisions:
        decided = Table(title="fields decided, by rule", title_justify="left")
        decided.add_column("rule")
        decided.add_column("fields", justify="right")
        for rule, count in sorted(report.decisions.items(), key=lambda item: -item[1]):
            decided.add_row(rule, f"{count:,}")
        console.print(decided)
    if report.retry_waits:
        console.print(
            "retries: "
            + ", ".join(
                f"{key} x{count}" for key, count in sorted(report.retry_waits.items())
            ),
            markup=False,
        )
    console.print(
        f"errors: {report.errors:,}"
        + (f" (see `{command} errors {report.integration}`)" if report.errors else ""),
        markup=False,
    )
    # A failed cycle's cause is the command's one `error:` line (see sync), not here.
    if report.message and report.status != "failed":
        console.print(f"message: {report.message}", markup=False)
