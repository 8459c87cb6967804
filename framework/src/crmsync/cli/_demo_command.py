"""``crmsync demo``: the command; the demo itself lives in :mod:`crmsync.cli._demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmsync.cli._state import state_of
from crmsync.errors import ConfigurationError
from crmsync.plugins import ConnectorCatalog

__all__ = ["demo", "demo_crm"]


def demo_crm(catalog: ConnectorCatalog, wanted: str | None = None) -> str:
    """The demo's CRM: ``wanted``, else the only installed CRM connector that declares
    an emulator, else the one among them with the highest ``demo_priority``.

    :raises ConfigurationError: none declares an emulator, or several tie at the top
        (the error lists them, to pick one with ``--crm``).
    """
    if wanted is not None:
        return wanted
    offering = sorted(
        (installed.description.demo_priority, connector_id)
        for connector_id, installed in catalog.loaded.items()
        if installed.description.emulator and installed.description.role != "platform"
    )
    if not offering:
        raise ConfigurationError(
            "no installed connector offers an emulator for the demo",
            hint="install a CRM connector that declares one (`crmsync connectors` "
            "lists what is installed), then run `crmsync demo --crm <id>`",
        )
    top = offering[-1][0]
    best = [connector_id for priority, connector_id in offering if priority == top]
    if len(best) > 1:
        raise ConfigurationError(
            f"several installed connectors offer an emulator for the demo: "
            f"{', '.join(best)}",
            hint=f"pick one with `crmsync demo --crm <id>`, e.g. --crm {best[0]}",
        )
    return best[0]


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
        crm=demo_crm(state.get_catalog(), crm),
        prospects=prospects,
        directory=directory,
        fresh=fresh,
    )
