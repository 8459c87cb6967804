"""Turning any expected failure into one line on stderr and a non-zero exit.

Operators see ``error: <what is wrong> (<how to fix it>)`` and never a traceback for a
mistake of input, configuration or environment; a traceback means a bug in crmsync.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from pydantic import ValidationError

from crmsync.errors import CrmsyncError
from crmsync.operations import clean_line, error_line, not_utf8_text
from crmsync.operations._text import env_file_error

__all__ = [
    "EXPECTED",
    "ClickException",
    "clean_line",
    "env_file_error",
    "is_no_args_help",
    "not_utf8_text",
    "one_line",
    "report",
]

EXPECTED: tuple[type[BaseException], ...] = (CrmsyncError, ValidationError, OSError)


def _click_class(name: str) -> type[Exception]:
    # Typer re-exports click's BadParameter publicly; click's exception base classes
    # are found through it rather than imported from a private module (Typer vendors
    # click as `typer._click` in new releases, and depends on `click` in old ones).
    for klass in typer.BadParameter.__mro__:
        if klass.__name__ == name:
            return klass
    raise RuntimeError(f"typer.BadParameter does not derive from {name}")


ClickException: type[Exception] = _click_class("ClickException")


def is_no_args_help(error: BaseException) -> bool:
    """Whether ``error`` is click's "no arguments, so the help was shown" signal
    (click 8.2 and later raise it; earlier releases exit after printing the help)."""
    return type(error).__name__ == "NoArgsIsHelpError"


def one_line(error: BaseException) -> str:
    """The operator's message for ``error``: one line, secrets masked."""
    if isinstance(error, ClickException):
        text = error.format_message()  # type: ignore[attr-defined]
        command = getattr(getattr(error, "ctx", None), "command_path", None)
        if command:
            text += f" (see `{command} --help`)"
        return clean_line(text)
    if isinstance(error, typer.Abort | KeyboardInterrupt):
        return "aborted, nothing changed"
    return error_line(error)


def report(error: BaseException, exit_code: int = 1) -> Any:
    """Print ``error: ...`` to stderr and exit with ``exit_code``."""
    typer.echo(f"error: {one_line(error)}", err=True)
    sys.stderr.flush()
    raise typer.Exit(exit_code)
