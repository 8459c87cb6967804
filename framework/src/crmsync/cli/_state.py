"""What every command shares: the :class:`~crmsync.operations.Workspace`, and output.

A :class:`CliState` lives in the click context's ``obj``. Tests (and embedders) pass
their own ``CliState(catalog=..., connector_kwargs=...)`` as ``obj`` to inject
connectors without installing them; the CLI itself builds one from the global options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import typer
from rich.console import Console

from crmsync.operations import (
    Workspace,
    check_given_settings,
    check_stored_settings,
    connector_settings,
    load_settings,
)

__all__ = [
    "CliState",
    "check_given_settings",
    "check_stored_settings",
    "connector_settings",
    "err_console",
    "load_settings",
    "out",
    "state_of",
]


@dataclass
class CliState(Workspace):
    """The workspace of one CLI invocation.

    :param catalog: the connectors to use instead of discovering installed ones.
    :param connector_kwargs: extra constructor arguments per connector id (test seams
        such as an in-memory backend or an httpx transport; never credentials).
    :param settings: the framework settings (from the environment and global options).
    :param sleep: how ``sync --watch`` waits between cycles (a test seam).
    """

    sleep: Callable[[float], None] | None = None


def state_of(ctx: typer.Context) -> CliState:
    """The invocation's :class:`CliState` (created by the root callback)."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj


def out() -> Console:
    """A console on the current stdout (looked up per call, so tests capture it)."""
    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    """A console on the current stderr."""
    return Console(stderr=True, highlight=False)
