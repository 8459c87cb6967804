"""Parsing the small languages of the command line: pairs, filters, settings."""

from __future__ import annotations

from typing import Any

from crmsync.errors import ConfigurationError
from crmsync.models import FieldFilter
from crmsync.policy.filters import FilterSyntaxError, parse_filter_expression

__all__ = ["parse_filter", "parse_pair", "parse_settings", "parse_value"]



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
    """A creation filter in the filter language (:mod:`crmsync.policy.filters`):
    ``score>=50``, ``title != 'Eng' and (score >= 50 or country == FR)``,
    ``email not_blank``."""
    try:
        return parse_filter_expression(text)
    except FilterSyntaxError as error:
        raise ConfigurationError(
            f"{option} {text!r} is not a filter: {error}",
            hint="write FIELD OP VALUE (OP one of >= <= > < == !=) or FIELD not_blank, "
            "joined by and / or, with parentheses; quote values with spaces, "
            "e.g. \"title != 'Head of Eng' and score >= 50\"",
        ) from None


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
