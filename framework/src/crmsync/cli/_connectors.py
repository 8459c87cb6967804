"""``crmsync connectors``: what is installed, with versions, and what failed to load."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from crmsync.cli._state import out, state_of
from crmsync.plugins import InstalledConnector

__all__ = ["connector_row", "connectors"]


def connector_row(connector: InstalledConnector) -> dict[str, Any]:
    description = connector.description
    return {
        "id": connector.id,
        "name": description.name,
        "version": connector.version,
        "distribution": connector.distribution,
        "role": description.role,
        "contract_version": description.contract_version,
        "objects": list(description.objects),
        "person_objects": list(description.person_objects),
        "capabilities": sorted(
            capability.value for capability in description.capabilities
        ),
        "max_batch_size": description.max_batch_size,
        "max_concurrency": description.max_concurrency,
    }


def connectors(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """List installed connectors: id, version, objects, capabilities, load failures."""
    catalog = state_of(ctx).get_catalog()
    loaded = [connector_row(catalog.loaded[key]) for key in sorted(catalog.loaded)]
    failed: list[dict[str, Any]] = [
        {
            "id": f.id,
            "distribution": f.distribution,
            "version": f.version,
            "error": f.error,
        }
        for f in (catalog.failed[key] for key in sorted(catalog.failed))
    ]
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
