"""How two records are recognised as one person: their match key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from crmsync.policy.values import is_blank

__all__ = ["KeyOf", "match_key", "match_key_of"]

#: What the store is given to key a staged record by: its values to its match key.
KeyOf = Callable[[Mapping[str, Any]], str | None]


def match_key(value: Any) -> str | None:
    """The normalized match key of a match field's value: trimmed and
    case-insensitive; a blank or non-text value has none."""
    # The common case (a str) first: every staged record passes here.
    if type(value) is not str and (is_blank(value) or not isinstance(value, str)):
        return None
    key = value.strip()
    return key.casefold() if key else None


def match_key_of(match_field: str) -> KeyOf:
    """The match key of a record's values, read from ``match_field``."""

    def key_of(values: Mapping[str, Any]) -> str | None:
        return match_key(values.get(match_field))

    return key_of
