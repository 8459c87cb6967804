"""The known-id baseline that deletion reconciliation compares against, kept in the
feed cursor's opaque ``token``.

Autotask reports no deletions, so the connector remembers which record ids existed at
the last reconciliation and when that was. The engine stores the cursor and gives it
back; nothing else has to persist. Ids are sorted, delta-encoded as varints and
compressed: sequential Autotask ids cost about one byte each (100,000 contacts: about
130 kB of token).
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Baseline"]

_PREFIX = "at1"


@dataclass(frozen=True)
class Baseline:
    """Record ids known to exist, and when (epoch seconds) they were last reconciled
    against the vendor (``0``: never)."""

    ids: frozenset[int]
    reconciled_at: float

    def encode(self) -> str:
        out = bytearray()
        previous = 0
        for value in sorted(self.ids):
            delta = value - previous
            previous = value
            if delta < 0:  # only the first id can be below 0 (never in practice)
                delta = 0
            while True:
                byte = delta & 0x7F
                delta >>= 7
                if delta:
                    out.append(byte | 0x80)
                else:
                    out.append(byte)
                    break
        packed = base64.urlsafe_b64encode(zlib.compress(bytes(out), 9)).decode()
        return f"{_PREFIX}:{int(self.reconciled_at)}:{packed}"

    @classmethod
    def decode(cls, token: str | None) -> Baseline | None:
        """The baseline in ``token``, or ``None`` for a token this connector did not
        write (an old or foreign one starts a fresh baseline instead of failing)."""
        if not token or not token.startswith(f"{_PREFIX}:"):
            return None
        try:
            _, when, packed = token.split(":", 2)
            raw = zlib.decompress(base64.urlsafe_b64decode(packed.encode()))
            ids: list[int] = []
            value = shift = current = 0
            for byte in raw:
                current |= (byte & 0x7F) << shift
                if byte & 0x80:
                    shift += 7
                    continue
                value += current
                ids.append(value)
                current = shift = 0
            return cls(frozenset(ids), float(when))
        except (ValueError, zlib.error):
            return None

    def plus(self, ids: Iterable[int]) -> Baseline:
        return Baseline(self.ids | frozenset(ids), self.reconciled_at)
