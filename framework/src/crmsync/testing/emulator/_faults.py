"""Faults armed by tests, named as the contract kit names them."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = ["ArmedFault", "FaultName", "FaultQueue", "TransportFault"]

TransportFault = Literal["slow", "dropped_connection"]
FaultName = Literal[
    "rate_limit", "transient", "expired", "permanent", "slow", "dropped_connection"
]
"""The contract kit's faults (:data:`crmsync.testing.Fault`) plus the transport
faults every emulator needs."""

STANDARD_FAULTS: frozenset[str] = frozenset(get_args(FaultName))


@dataclass
class ArmedFault:
    """One armed fault: ``name``, how many more requests it hits, which requests
    (``path_contains``, ``method``, ``writes_only``), and its ``options``:

    * ``after_commit=True`` (``slow`` with ``timeout=True``, ``dropped_connection``):
      the request is carried out first and only its answer is lost.
    * ``slow``: ``delay`` seconds before answering (a loopback server sleeps them), or
      ``timeout=True`` to raise ``httpx.ReadTimeout`` in-process.
    * anything an emulator's renderer reads (``status``, ``retry_after``, ``code``).
    """

    name: str
    count: int = 1
    path_contains: str | None = None
    method: str | None = None
    writes_only: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def after_commit(self) -> bool:
        return bool(self.options.get("after_commit"))


class FaultQueue:
    """Faults waiting for the requests they match, oldest first.

    The standard names are those of :data:`FaultName`; an emulator adds vendor-only
    ones with ``extra`` (``row_lock``) and old spellings with ``aliases``
    (``{"server_error": "transient"}``), so that no sandbox translates names.
    """

    def __init__(
        self,
        *,
        extra: Iterable[str] = (),
        aliases: dict[str, str] | None = None,
    ) -> None:
        self.known = STANDARD_FAULTS | frozenset(extra)
        self.aliases = dict(aliases or {})
        self._armed: list[ArmedFault] = []
        self._lock = threading.Lock()
        self.fired: list[tuple[str, str]] = []

    def inject(
        self,
        name: str,
        count: int = 1,
        path_contains: str | None = None,
        *,
        method: str | None = None,
        writes_only: bool = False,
        **options: Any,
    ) -> ArmedFault:
        """Arm ``name`` for the next ``count`` requests that match."""
        name = self.aliases.get(name, name)
        if name not in self.known:
            known = ", ".join(sorted(self.known | set(self.aliases)))
            raise ValueError(f"unknown fault {name!r}; known: {known}")
        if count < 1:
            raise ValueError("a fault needs count >= 1")
        fault = ArmedFault(
            name,
            count,
            path_contains,
            method.upper() if method else None,
            writes_only,
            dict(options),
        )
        with self._lock:
            self._armed.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def pending(self) -> list[ArmedFault]:
        """The faults still armed (copies of the list, not of the faults)."""
        with self._lock:
            return list(self._armed)

    def targets(self, path: str) -> bool:
        """Whether an armed fault names ``path`` explicitly (by ``path_contains``)."""
        with self._lock:
            return any(
                f.path_contains is not None and f.path_contains in path
                for f in self._armed
            )

    def take(
        self,
        path: str,
        *,
        method: str = "GET",
        write: bool = False,
        explicit: bool = False,
    ) -> ArmedFault | None:
        """The first armed fault matching the request, consumed. With ``explicit``
        only faults naming the path count (token endpoints are hit only on purpose)."""
        with self._lock:
            for fault in self._armed:
                if fault.path_contains is not None and fault.path_contains not in path:
                    continue
                if explicit and fault.path_contains is None:
                    continue
                if fault.method is not None and fault.method != method.upper():
                    continue
                if fault.writes_only and not write:
                    continue
                fault.count -= 1
                if fault.count <= 0:
                    self._armed.remove(fault)
                self.fired.append((fault.name, path))
                return fault
        return None
