"""``crmsync fields``: the fields of one object of a connector, from ``list_fields``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from crmsync.cli._state import out, state_of
from crmsync.errors import ConfigurationError

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
            "--integration", help="Use this integration's stored connector settings."
        ),
    ] = None,
) -> None:
    """Show the fields of CONNECTOR's OBJECT: type, length, required, read-only."""
    state = state_of(ctx)
    settings = None
    side = ""
    if integration is not None:
        stored = state.existing_store().get_integration(integration)
        if connector == stored.platform_connector:
            settings, side = stored.platform_settings, "platform"
        elif connector == stored.crm_connector:
            settings, side = stored.crm_settings, "crm"
        else:
            raise ConfigurationError(
                f"integration {integration!r} does not use connector {connector!r}",
                hint=f"it uses {stored.platform_connector} and {stored.crm_connector}",
            )
    connection = state.open_connection(
        connector, settings, integration=integration, side=side
    )
    specs = connection.list_fields(object_name)
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
