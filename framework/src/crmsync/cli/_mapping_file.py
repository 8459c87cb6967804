"""``mapping apply``: show how a mapping file differs from the stored mappings, then
apply it once confirmed (the file format and the diff live in
:mod:`crmsync.operations`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from crmsync import operations as ops
from crmsync.cli._render import mapping_text
from crmsync.cli._state import out
from crmsync.errors import ConfigurationError

__all__ = ["apply_file"]


def apply_file(ws: ops.Workspace, name: str, path: Path, *, yes: bool) -> None:
    """Show how ``path`` differs from the stored mappings of ``name``; apply it if
    confirmed."""
    ops.paused_integration(ws, name, "apply a mapping file")
    document = ops.read_mapping_file(path)
    plan = ops.plan_mapping_file(ws, name, document, source=str(path))
    console = out()
    if plan.empty:
        console.print(
            f"{path} matches the mappings of {name!r}: nothing to change",
            markup=False,
        )
        return
    changed = deleted = 0
    for change in plan.changes:
        where = str(change.pair)
        if change.new is not None and change.old is None:
            changed += 1
            console.print(Text(f"+ {where}  {mapping_text(change.new)}", style="green"))
        elif change.new is not None and change.old is not None:
            changed += 1
            console.print(
                Text(
                    f"~ {where}  {mapping_text(change.old)}  →  "
                    f"{mapping_text(change.new)}",
                    style="yellow",
                )
            )
        elif change.old is not None:
            deleted += 1
            console.print(Text(f"- {where}  {mapping_text(change.old)}", style="red"))
    console.print(f"{changed} to add or change, {deleted} to delete", markup=False)
    if not yes and not typer.confirm("Apply these changes?", default=False):
        raise ConfigurationError(
            "mapping changes not confirmed; nothing changed",
            hint="pass --yes to apply without a prompt",
        )
    ops.apply_mapping_plan(ws, plan)
    console.print(f"applied {path} to {name!r}", markup=False)
