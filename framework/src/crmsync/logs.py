"""Structured logging (structlog), console or JSON, with secrets redacted from every
line.

Secrets are kept out two ways: every ``SecretStr`` of a loaded settings model is
registered here (:func:`register_secrets`) and its value is replaced wherever it appears
in a log line, and any key that looks like a credential (``token``, ``secret``,
``password``, ``authorization``, ...) has its value masked whatever it holds.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog
from pydantic import BaseModel, SecretStr

REDACTED = "***"
_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|authorization|api[_-]?key|private[_-]?key|assertion|cookie)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=!-]+")
# A URL's password may sit in its user info (``scheme://user:pw@host``) or in its query
# string (``?password=...``, ``sslpassword``, ``access_token``, ``api_key``): a database
# URL or a vendor's request URL quoted in an error must not carry either into output.
_URL_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/?#@]*:)([^\s/?#@]+)(@)")
# The value stops short of a trailing ``:``, ``,``, ``.`` or ``)`` before a space: the
# URL's end in a sentence ("... ?password=x: connection refused"), not the secret's.
_URL_PARAM = re.compile(
    r"([?&;]([^\s=&;#?]+)=)([^\s&;#'\"]+?)(?=[:,.)]?(?:[\s&;#'\"]|$))"
)
_SECRET_PARAM = re.compile(
    r"pass|secret|token|key|authorization|assertion|cookie|credential", re.IGNORECASE
)
_known_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember a secret so that it is masked wherever it appears in a log line."""
    if value and len(value) >= 4:
        with _lock:
            _known_secrets.add(value)


def register_secrets(model: BaseModel) -> None:
    """Register every ``SecretStr`` field of a settings model (recursively)."""
    for name in type(model).model_fields:
        value = getattr(model, name, None)
        if isinstance(value, SecretStr):
            register_secret(value.get_secret_value())
        elif isinstance(value, BaseModel):
            register_secrets(value)


def _mask_param(match: re.Match[str]) -> str:
    if _SECRET_PARAM.search(match.group(2)):
        return f"{match.group(1)}{REDACTED}"
    return match.group(0)


def redact_text(text: str) -> str:
    """``text`` with every registered secret, every bearer token and every password or
    credential-like query parameter of a URL masked."""
    with _lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
    if "=" in text:
        text = _URL_PARAM.sub(_mask_param, text)
    if "://" in text:
        text = _URL_USERINFO.sub(rf"\g<1>{REDACTED}\g<3>", text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if (
        _SECRET_KEY.search(key)
        and value is not None
        and not isinstance(value, bool | int | float)
    ):
        return REDACTED
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    if isinstance(value, BaseException):
        return redact_text(str(value))
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secrets in every key and value of a log line."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


REPORTED_BY_CALLER = "failure_reported_by_caller"
"""A context variable a face binds (``structlog.contextvars.bound_contextvars``) while
it runs a cycle whose failure it reports itself (the CLI's one ``error:`` line): the
engine's ``cycle_failed`` line is then dropped, so the cause is printed once."""


def drop_failures_the_caller_reports(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: see :data:`REPORTED_BY_CALLER`."""
    if event_dict.pop(REPORTED_BY_CALLER, False) and (
        event_dict.get("event") == "cycle_failed"
    ):
        raise structlog.DropEvent
    return event_dict


def configure_logging(
    *,
    fmt: Literal["console", "json"] = "console",
    level: str = "INFO",
    stream: Any = None,
) -> None:
    """Set up structlog for the process: one line per event, secrets redacted."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            drop_failures_the_caller_reports,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


__all__ = [
    "REDACTED",
    "REPORTED_BY_CALLER",
    "configure_logging",
    "drop_failures_the_caller_reports",
    "redact_processor",
    "redact_text",
    "register_secret",
    "register_secrets",
]
