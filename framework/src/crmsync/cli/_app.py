"""The ``crmsync`` command: global options, and the command groups wired together."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from crmsync.cli import (
    _connectors,
    _demo_command,
    _doctor,
    _emulator_command,
    _explain,
    _fields,
    _integration,
    _mapping,
    _serve,
    _status,
    _sync,
    _workers,
)
from crmsync.cli._group import RootGroup
from crmsync.cli._state import CliState, load_settings
from crmsync.cli._version import show_version
from crmsync.logs import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(
    name="crmsync",
    cls=RootGroup,
    help="Keep a marketing platform's prospects and a CRM's leads and contacts "
    "in agreement.\n\n"
    # Click's own status for a command line it cannot parse is 2 (the POSIX usage
    # convention), kept so that scripts can tell a typo from a failed operation.
    "Exit status: 0 on success; 1 when crmsync reports an error (one line "
    "`error: ...` on stderr: bad input, settings, credentials, files, a failed "
    "cycle); 2 when it cannot parse the command line (unknown command or option, "
    "bad choice, missing argument or option).",
    no_args_is_help=True,
    add_completion=False,
    # Locals may hold credentials: a crash shows the stack, never variable values.
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


class LogFormat(enum.StrEnum):
    """``--log-format``: a choice, so that a typo is a usage error (exit status 2)."""

    CONSOLE = "console"
    JSON = "json"


class LogLevel(enum.StrEnum):
    """``--log-level``: a choice, so that a typo is a usage error (exit status 2)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@app.callback()
def _root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            metavar="URL",
            help="State store URL (overrides CRMSYNC_DATABASE_URL); "
            "sqlite:///crmsync.db by default.",
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--log-format",
            help="console or json, any case (overrides CRMSYNC_LOG_FORMAT).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            "--log-level",
            help="DEBUG, INFO, WARNING or ERROR, any case (overrides "
            "CRMSYNC_LOG_LEVEL; WARNING when neither is set).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print crmsync's version and each installed connector's, then exit.",
            callback=show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Keep a marketing platform's prospects and a CRM's records in agreement.

    Start with [bold]crmsync demo[/bold], or [bold]crmsync connectors[/bold] to see what
    is installed.
    """
    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    ctx.obj = state
    overrides: dict[str, object] = {}
    if database_url is not None:
        overrides["database_url"] = database_url
    if log_format is not None:
        overrides["log_format"] = log_format.value
    if log_level is not None:
        overrides["log_level"] = log_level.value
    base = load_settings(state.settings)
    explicit_level = log_level is not None or "log_level" in base.model_fields_set
    # Validated as settings, so a bad level is one clear line.
    base = load_settings(base, overrides)
    state.settings = base
    configure_logging(
        fmt=base.log_format, level=base.log_level if explicit_level else "WARNING"
    )
    ctx.call_on_close(state.close)


app.command("connectors")(_connectors.connectors)
app.add_typer(_integration.app, name="integration")
app.command("fields")(_fields.fields)
app.add_typer(_mapping.app, name="mapping")
app.command("sync")(_sync.sync)
app.command("status")(_status.status)
app.command("history")(_status.history)
app.command("explain")(_explain.explain)
app.add_typer(_status.errors_app, name="errors")
app.command("doctor")(_doctor.doctor)
app.command("demo")(_demo_command.demo)
app.command("emulator")(_emulator_command.emulator)
app.command("serve")(_serve.serve)
_workers.register(app)  # worker, scheduler, workers (the crmsync[celery] extra)


def main() -> None:
    """The console-script entry point."""
    app(prog_name="crmsync")
