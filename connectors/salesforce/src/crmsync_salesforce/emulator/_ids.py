"""Salesforce record ids: key prefixes, the 18-character case-safe suffix, and minting."""

from __future__ import annotations

import itertools
import re
import threading

__all__ = ["KEY_PREFIXES", "IdMinter", "is_valid_id", "to_18"]

KEY_PREFIXES = {"Lead": "00Q", "Contact": "003", "Account": "001", "User": "005"}
_ID = re.compile(r"^[a-zA-Z0-9]{15}([A-Z0-5]{3})?$")
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _checksum(id15: str) -> str:
    letters = []
    for start in (0, 5, 10):
        bits = 0
        for i, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << i
        letters.append(_SUFFIX[bits])
    return "".join(letters)


def is_valid_id(value: str) -> bool:
    """Whether ``value`` is a 15-char id or an 18-char id whose suffix matches its checksum."""
    if not _ID.match(value):
        return False
    return len(value) == 15 or value[15:] == _checksum(value[:15])


def to_18(value: str) -> str:
    """The 18-character form of a valid 15- or 18-character id."""
    if len(value) == 18:
        return value[:15] + _checksum(value[:15])
    return value + _checksum(value)


class IdMinter:
    """Mints new ids per object: key prefix, a pod marker, then a base-62 counter."""

    def __init__(self, pod: str = "5e") -> None:
        self._pod = pod
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def mint(self, object_name: str) -> str:
        with self._lock:
            number = next(self._counter)
        digits = []
        # Mix the counter so ids are not in insertion order (Salesforce's are not either),
        # which keeps the feed's (SystemModstamp, Id) tie-break honest in tests.
        mixed = (number * 2654435761) % (62**9)
        for _ in range(9):
            mixed, rest = divmod(mixed, 62)
            digits.append(_BASE62[rest])
        id15 = KEY_PREFIXES[object_name] + self._pod + "0" + "".join(reversed(digits))
        return id15 + _checksum(id15)
