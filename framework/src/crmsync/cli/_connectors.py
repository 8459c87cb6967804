"""``crmsync connectors``: what is installed, with versions, and what failed to load."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from crmsync import operations as ops
from crmsync.cli._state import out, state_of

__all__ = ["connectors"]


def connectors(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """List installed connectors: id, version, objects, capabilities, load failures."""
    listing = ops.list_connectors(state_of(ctx))
    loaded = [row.model_dump() for row in listing.connectors]
    failed = [row.model_dump() for row in listing.failed]
    if as_json:
        typer.echo(json.dumps({"connectors": loaded, "failed": failed}, indent=2))
        return
    console = out()
    if loaded:
        table = Table(title="Installed connectors", title_justify="left")
        for column in (
            "id",
            "version",
            "distribution",
            "role",
            "objects",
            "capabilities",
        ):
            table.add_column(column)
        for row in loaded:
            table.add_row(
                row["id"],
                row["version"] or "-",
                row["distribution"] or "-",
                row["role"],
                ", ".join(row["objects"]),
                ", ".join(row["capabilities"]) or "-",
            )
        console.print(table)
    else:
        console.print(
            "No connector is installed; install one with `pip install crmsync-<name>`."
        )
    for failure in failed:
        where = " ".join(
            part for part in (failure["distribution"], failure["version"]) if part
        )
        console.print(
            f"[red]✗[/red] {escape(failure['id'])}"
            + (f" ({escape(where)})" if where else "")
            + f": failed to load: {escape(failure['error'])}",
            markup=True,
        )
