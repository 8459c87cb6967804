"""Database failures as the framework's error types, never with a password.

PostgreSQL names the failure with an SQLSTATE, MySQL/MariaDB with an error number; the
driver exposes either on the exception SQLAlchemy wraps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import exc

from crmsync.contract import RecordError
from crmsync.errors import (
    AuthenticationFailed,
    PermanentError,
    TransientError,
)

__all__ = [
    "CONNECTOR_ID",
    "reason",
    "record_error",
    "remember_secret",
    "translate",
    "translated",
]

CONNECTOR_ID = "sql"
_AUTH_STATES = {"28P01", "28000"}
_AUTH_CODES = {1044, 1045, 1698}
# psycopg reports a refused login before any SQLSTATE exists: only its text says so.
_AUTH_PHRASES = (
    "authentication failed",
    "not permitted to log in",
    "no pg_hba.conf entry",
    "access denied for user",
)
_TRANSIENT_STATES = {"40001", "40P01", "55P03", "57014", "57P01", "53300", "08006"}
_TRANSIENT_CODES = {1205, 1213, 2003, 2006, 2013, 1040, 1053}
_PERMISSION_STATES = {"42501"}
_PERMISSION_CODES = {1142, 1143, 1227}


def _state(error: BaseException | None) -> str | None:
    state = getattr(error, "sqlstate", None) or getattr(
        getattr(error, "diag", None), "sqlstate", None
    )
    return str(state) if state else None


def _code(error: BaseException | None) -> int | None:
    args: tuple[Any, ...] = tuple(getattr(error, "args", ()))
    if args and isinstance(args[0], int):
        return int(args[0])
    return None


_secrets: set[str] = set()
_KEY = re.compile(r"Key \((\w+)\)=|for key '([\w.]+)'")


def remember_secret(secret: str | None) -> None:
    """Remember a secret to scrub from every message this module builds."""
    if secret and len(secret) >= 4:
        _secrets.add(secret)


def reason(error: BaseException) -> str:
    """The driver's own first line, without the SQL or any registered secret."""
    original = error.orig if isinstance(error, exc.DBAPIError) else error
    args: tuple[Any, ...] = tuple(getattr(original, "args", ()))
    if len(args) == 2 and isinstance(args[0], int):  # MySQL: (number, message)
        text = f"{args[1]} ({args[0]})"
    else:
        text = str(original).strip().splitlines()[0] if str(original).strip() else ""
    text = text or type(original).__name__
    for secret in _secrets:
        text = text.replace(secret, "***")
    return text


def record_error(error: exc.DBAPIError) -> RecordError:
    """A constraint or data error of one row, as that record's error."""
    original = error.orig
    diag = getattr(original, "diag", None)
    field = getattr(diag, "column_name", None) if diag is not None else None
    if field is None:
        # PostgreSQL: "Key (email)=(...) already exists"; MySQL: "for key 'email'".
        detail = str(getattr(diag, "message_detail", "") or "") + " " + reason(error)
        match = _KEY.search(detail)
        if match:
            field = (match.group(1) or match.group(2)).split(".")[-1]
    if isinstance(error, exc.IntegrityError):
        state, code = _state(original), _code(original)
        duplicate = state == "23505" or code == 1062
        return RecordError(
            code="DUPLICATE_VALUE" if duplicate else "CONSTRAINT",
            message=reason(error),
            field=field,
        )
    return RecordError(code="INVALID_VALUE", message=reason(error), field=field)


def translate(error: BaseException, **context: Any) -> BaseException:
    """The framework error for a database failure of a whole call."""
    original = error.orig if isinstance(error, exc.DBAPIError) else error
    state, code = _state(original), _code(original)
    text = reason(error)
    context = {"connector": CONNECTOR_ID, **context}
    if (
        state in _AUTH_STATES
        or code in _AUTH_CODES
        or any(phrase in text.lower() for phrase in _AUTH_PHRASES)
    ):
        return AuthenticationFailed(
            f"the platform database refused the credentials: {text}",
            hint="check CRMSYNC_SQL_URL's user and CRMSYNC_SQL_PASSWORD",
            **context,
        )
    if state in _PERMISSION_STATES or code in _PERMISSION_CODES:
        return PermanentError(
            f"the platform database refused the statement: {text}",
            code="PERMISSION_DENIED",
            hint="grant the user SELECT, INSERT and UPDATE on the table (see "
            "docs/own-prospect-table.md)",
            **context,
        )
    if (
        state in _TRANSIENT_STATES
        or code in _TRANSIENT_CODES
        or isinstance(error, exc.OperationalError | exc.InterfaceError)
        or (isinstance(error, exc.DBAPIError) and error.connection_invalidated)
    ):
        return TransientError(f"platform database unavailable: {text}", **context)
    return PermanentError(
        f"platform database error: {text}", code="DATABASE_ERROR", **context
    )


@contextmanager
def translated(**context: Any) -> Iterator[None]:
    """Raise the framework's error for any database failure inside the block."""
    try:
        yield
    except exc.DBAPIError as error:
        raise translate(error, **context) from None
