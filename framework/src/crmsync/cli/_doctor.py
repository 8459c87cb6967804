"""``crmsync doctor``: a preflight of one integration that writes nothing."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from crmsync import operations as ops
from crmsync.cli._state import out, state_of

__all__ = ["doctor"]

_MARKS = {
    "ok": "[green]✓[/green]",
    "warn": "[yellow]![/yellow]",
    "fail": "[red]✗[/red]",
}


def doctor(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The integration's name.", show_default=False)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check NAME end to end, writing nothing: settings, credentials, endpoints.

    Also checks the mappings against live fields, the state store and the API budget.
    Exits 1 when a check fails.
    """
    report = ops.doctor(state_of(ctx), name)
    if as_json:
        typer.echo(_json(report))
    else:
        console = out()
        for check in report.checks:
            console.print(
                f"{_MARKS[check.level]} {escape(check.what)}"
                + (f": {escape(check.detail)}" if check.detail else "")
            )
    if not report.ready:
        failures = report.failures
        typer.echo(
            f"error: doctor found {failures} problem{'s' if failures != 1 else ''} "
            f"with {name!r}",
            err=True,
        )
        raise typer.Exit(1)
    if not as_json:
        out().print(f"{name} is ready to sync", markup=False)


def _json(report: ops.DoctorReport) -> str:
    return json.dumps(
        {
            "integration": report.integration,
            "ready": report.ready,
            "checks": [check.model_dump() for check in report.checks],
        },
        indent=2,
    )
