"""Reading operator-supplied text: files that must be UTF-8, .env files that are not."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from crmsync.errors import ConfigurationError, CrmsyncError
from crmsync.logs import redact_text

__all__ = ["clean_line", "env_file_error", "error_line", "not_utf8_text"]


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


def clean_line(text: str) -> str:
    """``text`` as one line (a driver's multi-line message too), secrets masked."""
    return " ".join(redact_text(text).split())


def error_line(error: BaseException) -> str:
    """The operator's message for an expected failure: one line, secrets masked."""
    if isinstance(error, CrmsyncError):
        text = str(error)
    elif isinstance(error, ValidationError):
        text = _validation_line(error)
    elif isinstance(error, OSError):
        name = error.filename
        reason = error.strerror or str(error)
        text = f"{name}: {reason}" if name else reason
    else:
        text = f"{type(error).__name__}: {error}"
    return clean_line(text)


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
