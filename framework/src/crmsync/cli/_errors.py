"""Turning any expected failure into one line on stderr and a non-zero exit.

Operators see ``error: <what is wrong> (<how to fix it>)`` and never a traceback for a
mistake of input, configuration or environment; a traceback means a bug in crmsync.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from pydantic import ValidationError

# Typer vendors click; its exception types live in this private module and are the
# only way to tell a usage mistake (unknown option, bad choice) from other failures.
from typer._click.exceptions import ClickException

from crmsync.errors import CrmsyncError
from crmsync.logs import redact_text

__all__ = ["EXPECTED", "one_line", "report"]

EXPECTED: tuple[type[BaseException], ...] = (CrmsyncError, ValidationError, OSError)


def _validation_line(error: ValidationError) -> str:
    problems = error.errors()
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"])
    text = f"{where}: {first['msg']}" if where else str(first["msg"])
    if len(problems) > 1:
        text += (
            f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
        )
    return f"invalid {error.title}: {text}"


def one_line(error: BaseException) -> str:
    """The operator's message for ``error``: one line, secrets masked."""
    if isinstance(error, CrmsyncError):
        text = str(error)
    elif isinstance(error, ValidationError):
        text = _validation_line(error)
    elif isinstance(error, OSError):
        name = error.filename
        reason = error.strerror or str(error)
        text = f"{name}: {reason}" if name else reason
    elif isinstance(error, ClickException):
        text = error.format_message()
        command = getattr(getattr(error, "ctx", None), "command_path", None)
        if command:
            text += f" (see `{command} --help`)"
    elif isinstance(error, typer.Abort | KeyboardInterrupt):
        text = "aborted, nothing changed"
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(redact_text(text).split())


def report(error: BaseException, exit_code: int = 1) -> Any:
    """Print ``error: ...`` to stderr and exit with ``exit_code``."""
    typer.echo(f"error: {one_line(error)}", err=True)
    sys.stderr.flush()
    raise typer.Exit(exit_code)
