"""The click group classes behind the CLI: one-line errors, and default subcommands."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from crmsync.cli._errors import EXPECTED, ClickException, is_no_args_help, one_line

__all__ = ["DefaultListGroup", "RootGroup"]


def _is_choice(param: Any) -> bool:
    # Recent Typer describes a parameter's type in `type_descriptor`; older releases
    # (on click) in `type`, a Choice having `choices`.
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        return bool(getattr(descriptor, "is_choice", False))
    return hasattr(getattr(param, "type", None), "choices")


def _tidy_placeholders(command: Any) -> None:
    """Help placeholders that say what a parameter takes: none for a flag (recent
    Typer releases show ``<bool>``), a name in capitals rather than a Python type
    (``<str>``, ``<list[str]>``) for the rest. Options name theirs with
    ``metavar=`` where they are declared; this covers what was left out."""
    params = list(getattr(command, "params", []))
    help_option = getattr(command, "get_help_option", None)
    if help_option is not None:
        # Typer builds (and caches) the --help option per command on demand.
        params.append(help_option(command.context_class(command)))
    for param in params:
        if param is None or param.metavar is not None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.name and not _is_choice(param):
            # An argument, or an option declared without one: its name in capitals
            # (`--dir DIR`), as click does; choices keep their `<a|b|c>`.
            param.metavar = param.name.upper()
    for sub in (getattr(command, "commands", None) or {}).values():
        _tidy_placeholders(sub)


class RootGroup(TyperGroup):
    """The ``crmsync`` group: every expected failure becomes ``error: <one line>``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tidy_placeholders(self)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except EXPECTED as error:
            typer.echo(f"error: {one_line(error)}", err=True)
            raise typer.Exit(1) from None

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except ClickException as error:
            if is_no_args_help(error):
                # Building the error rendered the help already: rich prints it then
                # and leaves the message empty; plain click returns it as the message.
                message = error.format_message()  # type: ignore[attr-defined]
                if message:
                    typer.echo(message)
            else:
                typer.echo(f"error: {one_line(error)}", err=True)
            code = int(getattr(error, "exit_code", 1))
        except typer.Abort as error:
            typer.echo(f"error: {one_line(error)}", err=True)
            code = 1
        except typer.Exit as error:
            code = error.exit_code
        else:
            code = result if isinstance(result, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)


class DefaultListGroup(TyperGroup):
    """A group with an implied ``list``: ``errors NAME`` is ``errors list NAME``."""

    def resolve_command(
        self, ctx: Any, args: list[str]
    ) -> tuple[str | None, Any, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["list", *args]
        return super().resolve_command(ctx, args)
