"""``crmsync status``, ``history`` and ``errors``: what happened, and what is stuck."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from crmsync import operations as ops
from crmsync.cli._group import DefaultListGroup
from crmsync.cli._state import out, state_of

__all__ = ["errors_app", "history", "status"]

NameArg = Annotated[
    str, typer.Argument(help="The integration's name.", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _writes(counts: dict[str, Any]) -> str:
    parts = []
    for side in ("platform", "crm"):
        side_counts = counts.get(side) or {}
        parts.append(
            f"{side} r{side_counts.get('read', 0)} c{side_counts.get('created', 0)} "
            f"u{side_counts.get('updated', 0)} f{side_counts.get('failed', 0)}"
        )
    return "; ".join(parts)


def _run_dict(run: ops.RunEntry) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "dry_run": run.dry_run,
        "started_at": _when(run.started_at),
        "finished_at": _when(run.finished_at),
        "counts": run.counts,
        "message": run.message,
    }


def status(ctx: typer.Context, name: NameArg, as_json: JsonOption = False) -> None:
    """Where NAME stands: active or paused, last run, links, waiting and parked."""
    found = ops.integration_status(state_of(ctx), name)
    last = found.last_run
    if as_json:
        data = {
            "name": name,
            "active": found.active,
            "source_of_truth": found.source_of_truth.value,
            "locked": found.locked,
            "interval_seconds": found.interval_seconds,
            "links": found.links,
            "waiting": found.waiting,
            "parked": found.parked,
            "open_errors": found.open_errors,
            "last_run": None
            if last is None
            else {
                key: value
                for key, value in _run_dict(last).items()
                if key not in ("id", "dry_run")
            },
        }
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    console = out()
    state_word = "[green]active[/green]" if found.active else "[yellow]paused[/yellow]"
    console.print(f"[bold]{name}[/bold]  {found.platform} ↔ {found.crm}  {state_word}")
    console.print(
        f"source of truth: {found.source_of_truth.value}"
        f"{' (locked)' if found.locked else ''}; every "
        f"{found.interval_seconds}s",
        markup=False,
    )
    console.print(
        f"linked records: {found.links:,}; waiting: {found.waiting:,}; "
        f"parked: {found.parked:,}; open errors: {found.open_errors:,}",
        markup=False,
    )
    if last is None:
        console.print(f"no cycle has run yet: `crmsync sync {name}`", markup=False)
    else:
        console.print(
            f"last run: {last.status} at {_when(last.finished_at or last.started_at)}"
            f" ({_writes(last.counts)})",
            markup=False,
        )
        if last.message:
            console.print(f"  {last.message}", markup=False)
    if found.parked:
        console.print(
            f"parked records wait for `crmsync errors retry {name}`", markup=False
        )


def _short(side: dict[str, Any]) -> str:
    return (
        f"read {side.get('read', 0)}, +{side.get('created', 0)}, "
        f"~{side.get('updated', 0)}, ✗{side.get('failed', 0)}"
    )


def history(
    ctx: typer.Context,
    name: NameArg,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", help="How many runs.", min=1)
    ] = 20,
    events: Annotated[
        bool,
        typer.Option(
            "--events",
            help="Also list logged operations (mapping changes, pauses, rebaselines).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """The last runs of NAME with their counts (--events: logged operations too)."""
    state = state_of(ctx)
    runs = ops.run_history(state, name, limit=limit)
    logged = ops.event_log(state, name, limit=limit) if events else []
    if as_json:
        data: dict[str, Any] = {"runs": [_run_dict(run) for run in runs]}
        if events:
            data["events"] = [
                {"at": _when(e.at), "kind": e.kind, "detail": e.detail} for e in logged
            ]
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    table = Table(title=f"runs of {name}", title_justify="left")
    for column in ("run", "started", "status", "dry run", "platform", "crm", "seconds"):
        table.add_column(column)
    for run in runs:
        counts = run.counts
        table.add_row(
            str(run.id),
            _when(run.started_at),
            run.status,
            "yes" if run.dry_run else "",
            _short(counts.get("platform") or {}),
            _short(counts.get("crm") or {}),
            str(counts.get("duration_seconds", "")),
        )
    console = out()
    console.print(table)
    if events:
        log = Table(title=f"events of {name}", title_justify="left")
        for column in ("at", "event", "detail"):
            log.add_column(column, overflow="fold")
        for event in logged:
            log.add_row(
                _when(event.at),
                event.kind,
                json.dumps(event.detail, default=str, sort_keys=True),
            )
        console.print(log)


errors_app = typer.Typer(
    cls=DefaultListGroup,
    help="Records that failed: `crmsync errors NAME` lists them, "
    "`errors retry NAME` retries parked ones.",
    no_args_is_help=True,
)


@errors_app.command("list")
def errors_list(
    ctx: typer.Context,
    name: NameArg,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", metavar="N", min=1, help="At most this many, newest first."
        ),
    ] = 100,
    as_json: JsonOption = False,
) -> None:
    """List the open per-record errors of NAME (the same as `crmsync errors NAME`)."""
    listing = ops.open_errors(state_of(ctx), name, limit=limit)
    rows, total = listing.errors, listing.total
    if as_json:
        typer.echo(listing.model_dump_json(indent=2))
        return
    console = out()
    if not rows:
        console.print(f"no open errors in {name!r}", markup=False)
        return
    title = f"open errors of {name}: {total:,}"
    if total > len(rows):
        title += f", the newest {len(rows):,} shown"
    table = Table(title=title, title_justify="left")
    for column in (
        "side",
        "object",
        "record",
        "code",
        "field",
        "message",
        "retryable",
        "attempts",
        "last seen",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.side,
            row.object_name,
            row.record_id,
            row.code,
            row.field or "",
            row.message,
            "yes" if row.retryable else "no",
            str(row.attempts),
            _when(row.last_seen_at),
        )
    console.print(table)
    if total > len(rows):
        console.print(
            f"{total - len(rows):,} more not shown: `crmsync errors {name} --limit "
            f"{total}` lists them all",
            markup=False,
        )


@errors_app.command("retry")
def errors_retry(
    ctx: typer.Context,
    name: NameArg,
    record: Annotated[
        list[str] | None,
        typer.Option(
            "--record",
            metavar="RECORD_ID",
            help="Only this record id (repeatable).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Unpark NAME's parked records so the next cycle tries them again."""
    count = ops.retry_errors(state_of(ctx), name, record)
    out().print(
        f"{count} parked record{'s' if count != 1 else ''} will be retried by the next "
        f"cycle of {name!r}",
        markup=False,
    )
