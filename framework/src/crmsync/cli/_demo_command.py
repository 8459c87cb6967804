"""``crmsync demo``: the command; the demo itself lives in :mod:`crmsync.cli._demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmsync.cli._state import state_of
from crmsync.operations import default_platform, demo_crm

__all__ = ["demo", "demo_crm"]


def demo(
    ctx: typer.Context,
    crm: Annotated[
        str | None,
        typer.Option(
            "--crm",
            help="The CRM connector whose emulator to use (any installed connector "
            "that declares one; default: the only one, else the one whose description "
            "gives the highest demo_priority).",
        ),
    ] = None,
    platform: Annotated[
        str | None,
        typer.Option(
            "--platform",
            help="The platform connector to seed (any installed one that declares "
            "itself self_contained; default: the only one, else the one whose "
            "description gives the highest demo_priority).",
        ),
    ] = None,
    prospects: Annotated[
        int, typer.Option("--prospects", help="Fake prospects to seed.", min=10)
    ] = 3000,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo's files go.")
    ] = Path("."),
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh/--reuse",
            help="--fresh: start over from new files. --reuse: keep the files of an "
            "earlier run in --dir: its prospects are not seeded again, and the state "
            "gains another integration (demo-2, ...) against a new emulator.",
        ),
    ] = True,
) -> None:
    """Run the whole job on embedded defaults: no network, no credentials.

    Seeds a self-contained platform with prospects through the contract, starts a
    CRM connector's emulator on a loopback port, creates an integration with
    mappings, runs a cycle, edits both sides (one conflict), and runs a second cycle
    that shows the rules deciding.
    """
    from crmsync.cli._demo import run_demo

    state = state_of(ctx)
    run_demo(
        state,
        crm=demo_crm(state.get_catalog(), crm),
        platform=default_platform(
            state.get_catalog(), platform, option="crmsync demo --platform"
        ),
        prospects=prospects,
        directory=directory,
        fresh=fresh,
    )
