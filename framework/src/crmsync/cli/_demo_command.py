"""``crmsync demo``: the command; the demo itself lives in :mod:`crmsync.cli._demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmsync.cli._state import state_of
from crmsync.errors import ConfigurationError

__all__ = ["demo"]


def demo(
    ctx: typer.Context,
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

    Seeds the local platform with prospects, starts the Salesforce emulator on a
    loopback port, creates an integration with mappings, runs a cycle, edits both sides
    (one conflict), and runs a second cycle that shows the rules deciding.
    """
    try:
        from crmsync.cli._demo import run_demo
    except ImportError as error:
        if "crmsync_salesforce" not in str(error):
            raise
        raise ConfigurationError(
            "the demo needs the Salesforce connector and its emulator",
            hint="install it with `pip install crmsync-salesforce`",
        ) from None
    run_demo(state_of(ctx), prospects=prospects, directory=directory, fresh=fresh)
