"""The ``crmsync`` command line (Typer + Rich), split by command group.

``main`` is the console script; ``app`` is the Typer application (for
``CliRunner``), and
:class:`CliState` the seam to inject a connector catalog or test backends::

    runner.invoke(app, ["connectors"], obj=CliState(catalog=my_catalog))
"""

from __future__ import annotations

from crmsync.cli._app import app, main
from crmsync.cli._state import CliState

__all__ = ["CliState", "app", "main"]
