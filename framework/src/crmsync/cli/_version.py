"""``crmsync --version``: the framework's version and each installed connector's."""

from __future__ import annotations

import typer

from crmsync import operations as ops
from crmsync.cli._state import state_of

__all__ = ["show_version"]


def show_version(ctx: typer.Context, value: bool) -> None:
    """The ``--version`` callback: print the versions, then exit."""
    if not value or ctx.resilient_parsing:
        return
    info = ops.version_info(state_of(ctx))
    lines = [f"crmsync {info.crmsync} (Python {info.python})"]
    for connector in info.connectors:
        where = connector.distribution or "built in"
        lines.append(
            f"  {connector.id} {connector.version or '-'} ({where}; contract "
            f"{connector.contract_version})"
        )
    for failure in info.failed:
        version = f" {failure.version}" if failure.version else ""
        lines.append(f"  {failure.id}{version}: failed to load")
    typer.echo("\n".join(lines))
    raise typer.Exit(0)
