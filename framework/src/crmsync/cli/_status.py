"""``crmsync status``, ``history`` and ``errors``: what happened, and what is stuck."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from crmsync.cli._group import DefaultListGroup
from crmsync.cli._state import out, state_of

__all__ = ["errors_app", "history", "status"]

NameArg = Annotated[
    str, typer.Argument(help="The integration's name.", show_default=False)
]


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


def status(
    ctx: typer.Context,
    name: NameArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where NAME stands: active or paused, last run, links, waiting and parked."""
    store = state_of(ctx).existing_store()
    integration = store.get_integration(name)
    assert integration.id is not None
    with store.transaction() as tx:
        inbox = store.inbox_counts(tx, integration.id)
        links = store.count_links(tx, integration.id)
    runs = store.list_runs(integration.id, limit=1)
    last = runs[0] if runs else None
    open_errors = store.count_open_errors(integration.id)
    data = {
        "name": name,
        "active": integration.active,
        "source_of_truth": integration.source_of_truth.value,
        "locked": integration.source_of_truth_locked_at is not None,
        "interval_seconds": integration.interval_seconds,
        "links": links,
        "waiting": inbox["waiting"],
        "parked": inbox["parked"],
        "open_errors": open_errors,
        "last_run": None
        if last is None
        else {
            "status": last.status,
            "started_at": _when(last.started_at),
            "finished_at": _when(last.finished_at),
            "counts": last.counts,
            "message": last.message,
        },
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    console = out()
    state_word = (
        "[green]active[/green]" if integration.active else "[yellow]paused[/yellow]"
    )
    console.print(
        f"[bold]{name}[/bold]  {integration.platform_connector} ↔ "
        f"{integration.crm_connector}  {state_word}"
    )
    console.print(
        f"source of truth: {data['source_of_truth']}"
        f"{' (locked)' if data['locked'] else ''}; every "
        f"{integration.interval_seconds}s",
        markup=False,
    )
    console.print(
        f"linked records: {links:,}; waiting: {inbox['waiting']:,}; "
        f"parked: {inbox['parked']:,}; open errors: {open_errors:,}",
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
    if inbox["parked"]:
        console.print(
            f"parked records wait for `crmsync errors retry {name}`", markup=False
        )


def history(
    ctx: typer.Context,
    name: NameArg,
    limit: Annotated[int, typer.Option("--limit", help="How many runs.", min=1)] = 20,
    events: Annotated[
        bool,
        typer.Option(
            "--events",
            help="Also list logged operations (mapping changes, pauses, rebaselines).",
        ),
    ] = False,
) -> None:
    """The last runs of NAME with their counts (--events: logged operations too)."""
    store = state_of(ctx).existing_store()
    integration = store.get_integration(name)
    assert integration.id is not None
    table = Table(title=f"runs of {name}", title_justify="left")
    for column in ("run", "started", "status", "dry run", "platform", "crm", "seconds"):
        table.add_column(column)
    for run in store.list_runs(integration.id, limit=limit):
        counts = run.counts
        platform, crm = counts.get("platform") or {}, counts.get("crm") or {}

        def short(side: dict[str, Any]) -> str:
            return (
                f"read {side.get('read', 0)}, +{side.get('created', 0)}, "
                f"~{side.get('updated', 0)}, ✗{side.get('failed', 0)}"
            )

        table.add_row(
            str(run.id),
            _when(run.started_at),
            run.status,
            "yes" if run.dry_run else "",
            short(platform),
            short(crm),
            str(counts.get("duration_seconds", "")),
        )
    console = out()
    console.print(table)
    if events:
        log = Table(title=f"events of {name}", title_justify="left")
        for column in ("at", "event", "detail"):
            log.add_column(column, overflow="fold")
        for event in store.list_events(integration.id, limit=limit):
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
        int, typer.Option("--limit", min=1, help="At most this many, newest first.")
    ] = 100,
) -> None:
    """List the open per-record errors of NAME (the same as `crmsync errors NAME`)."""
    store = state_of(ctx).existing_store()
    integration = store.get_integration(name)
    assert integration.id is not None
    rows = store.open_errors(integration.id, limit=limit)
    console = out()
    if not rows:
        console.print(f"no open errors in {name!r}", markup=False)
        return
    total = store.count_open_errors(integration.id)
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
            "--record", help="Only this record id (repeatable).", show_default=False
        ),
    ] = None,
) -> None:
    """Unpark NAME's parked records so the next cycle tries them again."""
    store = state_of(ctx).existing_store()
    integration = store.get_integration(name)
    assert integration.id is not None
    with store.transaction() as tx:
        count = store.unpark_inbox(tx, integration.id, record or None)
    out().print(
        f"{count} parked record{'s' if count != 1 else ''} will be retried by the next "
        f"cycle of {name!r}",
        markup=False,
    )
