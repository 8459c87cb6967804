"""``crmsync fields``: the fields of one object of a connector, from ``list_fields``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from crmsync import operations as ops
from crmsync.cli._state import out, state_of

__all__ = ["fields"]


def fields(
    ctx: typer.Context,
    connector: Annotated[
        str, typer.Argument(help="Connector id, e.g. salesforce or local.")
    ],
    object_name: Annotated[
        str, typer.Argument(metavar="OBJECT", help="Object, e.g. Lead.")
    ],
    integration: Annotated[
        str | None,
        typer.Option(
            "--integration",
            metavar="NAME",
            help="Use this integration's stored connector settings.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the fields of CONNECTOR's OBJECT: type, length, required, read-only."""
    specs = ops.list_fields(
        state_of(ctx), connector, object_name, integration=integration
    )
    if as_json:
        typer.echo(
            json.dumps(
                [spec.model_dump(mode="json") for spec in specs], indent=2, default=str
            )
        )
        return
    table = Table(
        title=f"{connector} {object_name}: {len(specs)} fields", title_justify="left"
    )
    for column in (
        "name",
        "label",
        "type",
        "length",
        "required",
        "read-only",
        "picklist",
    ):
        table.add_column(column)
    for spec in specs:
        picklist = ", ".join(spec.picklist_values)
        if spec.picklist_values and spec.restricted_picklist:
            picklist += " (restricted)"
        table.add_row(
            spec.name,
            spec.label,
            spec.type.value,
            "" if spec.length is None else str(spec.length),
            "yes" if spec.required_on_create else "",
            "yes" if spec.read_only else "",
            picklist,
        )
    out().print(table)
