"""Parsing the small languages of the command line: pairs, filters, settings."""

from __future__ import annotations

import re
from typing import Any

from crmsync.errors import ConfigurationError
from crmsync.models import FieldFilter

__all__ = ["parse_filter", "parse_pair", "parse_settings", "parse_value"]

_FILTER = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|!=|==|=|>|<)\s*(.*?)\s*$")
_NOT_BLANK = re.compile(r"^\s*([A-Za-z_][\w.]*)\s+(?:is\s+)?not[_ ]blank\s*$", re.I)


def parse_value(text: str) -> Any:
    """``"50"`` → 50, ``"0.5"`` → 0.5, ``"true"`` → True, ``"'x'"`` → ``"x"``."""
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        return stripped[1:-1]
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(stripped)
        except ValueError:
            continue
    return stripped


def parse_filter(text: str, *, option: str) -> FieldFilter:
    """``score>=50``, ``status == 'qualified'`` or ``email not_blank``."""
    match = _NOT_BLANK.match(text)
    if match:
        return FieldFilter(field=match.group(1), op="not_blank")
    match = _FILTER.match(text)
    # A value that starts with an operator character is a mistyped operator
    # ('score>>', 'score=>5'); a value meant to start with one can be quoted.
    if not match or not match.group(3) or match.group(3)[0] in "<>=!":
        raise ConfigurationError(
            f"{option} {text!r} is not a filter",
            hint="write FIELD OP VALUE with OP one of >= <= > < == !=, "
            "e.g. 'score>=50', "
            "or 'FIELD not_blank'",
        )
    field_name, op, value = match.groups()
    return FieldFilter(
        field=field_name,
        op="==" if op == "=" else op,
        value=parse_value(value),
    )


def parse_pair(text: str) -> tuple[str, str]:
    """``prospect:Contact`` → ``("prospect", "Contact")``."""
    platform_object, sep, crm_object = text.partition(":")
    if not sep or not platform_object.strip() or not crm_object.strip():
        raise ConfigurationError(
            f"object pair {text!r} is not PLATFORM_OBJECT:CRM_OBJECT",
            hint="e.g. --pair prospect:Contact",
        )
    return platform_object.strip(), crm_object.strip()


def parse_settings(items: list[str] | None, *, option: str) -> dict[str, Any]:
    """``["path=platform.db", "x=y"]`` → a dict (non-secret settings)."""
    settings: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(
                f"{option} {item!r} is not KEY=VALUE",
                hint=f"e.g. {option} path=platform.db",
            )
        if not value.strip():
            # An empty stored value would override the environment with nothing.
            raise ConfigurationError(
                f"{option} {key.strip()}= has no value",
                hint="give a value, or leave the setting to the environment "
                "(`integration update --unset-...-setting KEY` removes a stored one)",
            )
        settings[key.strip()] = value.strip()
    return settings
