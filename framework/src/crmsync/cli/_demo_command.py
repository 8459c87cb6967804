"""``crmsync demo``: the command; the demo itself lives in :mod:`crmsync.cli._demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmsync.cli._state import CliState, state_of
from crmsync.errors import ConfigurationError

__all__ = ["DEFAULT_CRM", "demo"]

# The demo's CRM when --crm is not given and it is installed: an id only (nothing is
# imported by name; any installed connector that declares an emulator can be chosen).
DEFAULT_CRM = "salesforce"


def _demo_crm(state: CliState, wanted: str | None) -> str:
    """``wanted``, else the default CRM, else the first connector with an emulator."""
    if wanted is not None:
        return wanted
    catalog = state.get_catalog()
    offering = sorted(
        connector_id
        for connector_id, installed in catalog.loaded.items()
        if installed.description.emulator and installed.description.role != "platform"
    )
    if DEFAULT_CRM in offering:
        return DEFAULT_CRM
    if offering:
        return offering[0]
    raise ConfigurationError(
        "no installed connector offers an emulator for the demo",
        hint="install one, e.g. `pip install crmsync-salesforce`",
    )


def demo(
    ctx: typer.Context,
    crm: Annotated[
        str | None,
        typer.Option(
            "--crm",
            help="The CRM connector whose emulator to use (any installed connector "
            "that declares one; default: salesforce when installed).",
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

    Seeds the local platform with prospects, starts a CRM connector's emulator on a
    loopback port, creates an integration with mappings, runs a cycle, edits both
    sides (one conflict), and runs a second cycle that shows the rules deciding.
    """
    from crmsync.cli._demo import run_demo

    state = state_of(ctx)
    run_demo(
        state,
        crm=_demo_crm(state, crm),
        prospects=prospects,
        directory=directory,
        fresh=fresh,
    )
