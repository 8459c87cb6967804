"""Turning any expected failure into one line on stderr and a non-zero exit.

Operators see ``error: <what is wrong> (<how to fix it>)`` and never a traceback for a
mistake of input, configuration or environment; a traceback means a bug in crmsync.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

# Typer vendors click; its exception types live in this private module and are the
# only way to tell a usage mistake (unknown option, bad choice) from other failures.
from typer._click.exceptions import ClickException

from crmsync.errors import ConfigurationError, CrmsyncError
from crmsync.logs import redact_text

__all__ = [
    "EXPECTED",
    "clean_line",
    "env_file_error",
    "not_utf8_text",
    "one_line",
    "report",
]

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
    return clean_line(text)


def clean_line(text: str) -> str:
    """``text`` as one line (a driver's multi-line message too), secrets masked."""
    return " ".join(redact_text(text).split())


def report(error: BaseException, exit_code: int = 1) -> Any:
    """Print ``error: ...`` to stderr and exit with ``exit_code``."""
    typer.echo(f"error: {one_line(error)}", err=True)
    sys.stderr.flush()
    raise typer.Exit(exit_code)


def not_utf8_text(path: Path, data: bytes | None = None) -> ConfigurationError | None:
    """The operator's error for a file that is not UTF-8 text; ``None`` when it is.

    ``data`` is the file's content when the caller has read it already.
    """
    try:
        raw = path.read_bytes() if data is None else data
    except OSError:
        return None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        return ConfigurationError(
            f"cannot read {path}: it must be UTF-8 text, and byte "
            f"0x{raw[error.start]:02x} on line {line} is not",
            hint="save the file as UTF-8",
        )
    return None


def env_file_error(model: Any, what: str = "settings") -> ConfigurationError:
    """The error for a settings model whose ``.env`` file could not be decoded.

    The decoder's error names no file, so each ``env_file`` of ``model`` is read again
    to find the one at fault.
    """
    files = model.model_config.get("env_file") or ()
    if isinstance(files, str | os.PathLike):
        files = (files,)
    for name in files:
        problem = not_utf8_text(Path(name))
        if problem is not None:
            return problem
    return ConfigurationError(
        f"cannot read the {what}: a file they are read from is not UTF-8 text",
        hint="save .env and the files the settings name as UTF-8",
    )
