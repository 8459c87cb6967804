"""The click group classes behind the CLI: one-line errors, and default subcommands."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer._click.core import Context
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperGroup

from crmsync.cli._errors import EXPECTED, one_line

__all__ = ["DefaultListGroup", "RootGroup"]


class RootGroup(TyperGroup):
    """The ``crmsync`` group: every expected failure becomes ``error: <one line>``."""

    def invoke(self, ctx: Context) -> Any:
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
        except NoArgsIsHelpError as error:
            # Building the error rendered the help already: rich prints it then and
            # leaves the message empty; plain click returns it as the message.
            message = error.format_message()
            if message:
                typer.echo(message)
            code = error.exit_code
        except ClickException as error:
            typer.echo(f"error: {one_line(error)}", err=True)
            code = error.exit_code
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
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Any, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["list", *args]
        return super().resolve_command(ctx, args)
