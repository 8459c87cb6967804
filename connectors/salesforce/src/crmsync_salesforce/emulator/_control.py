"""Test controls of the emulator: its clock, injected faults and the request log."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["EmulatorClock", "Fault", "FaultKind", "Faults", "LoggedRequest"]

FaultKind = Literal[
    "rate_limit",
    "server_error",
    "slow",
    "dropped_connection",
    "expired_session",
    "row_lock",
    "bad_request",
]
_KINDS = {
    "rate_limit",
    "server_error",
    "slow",
    "dropped_connection",
    "expired_session",
    "row_lock",
    "bad_request",
}


class EmulatorClock:
    """The org's clock, at second precision (as SystemModstamp is).

    It follows real time until :meth:`freeze`; frozen, it moves only by :meth:`advance`
    or :meth:`set`, so a test can make many writes share one SystemModstamp second.
    """

    def __init__(self) -> None:
        self._frozen: dt.datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            value = self._frozen or dt.datetime.now(dt.UTC)
        return value.replace(microsecond=0)

    def freeze(self, at: dt.datetime | None = None) -> dt.datetime:
        with self._lock:
            moment = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
            self._frozen = moment
        return moment

    def set(self, at: dt.datetime) -> None:
        self.freeze(at)

    def advance(self, seconds: float = 1.0) -> dt.datetime:
        with self._lock:
            base = self._frozen or dt.datetime.now(dt.UTC)
            self._frozen = base + dt.timedelta(seconds=seconds)
            return self._frozen.replace(microsecond=0)

    def unfreeze(self) -> None:
        with self._lock:
            self._frozen = None


@dataclass
class Fault:
    """One armed fault. ``options`` refine it:

    * ``rate_limit``: ``status`` 403 (``REQUEST_LIMIT_EXCEEDED``, default) or 429;
      ``retry_after`` seconds for a ``Retry-After`` header (always sent with 429).
    * ``server_error``: ``status`` 500 (default), 502, 503 or 504.
    * ``slow``: ``delay`` seconds before answering (the loopback server sleeps;
      in-process the delay is only recorded, unless ``timeout=True`` which raises
      ``httpx.ReadTimeout``).
    * ``dropped_connection``: the connection closes without an answer.
    * ``after_commit=True`` (with ``slow`` and ``timeout=True``, or with
      ``dropped_connection``): the call is carried out first and only its answer is
      lost, as when a long write commits after the client gave up. A client must not
      repeat such a create blindly.
    * ``expired_session``: the session used is invalidated and the call answers 401.
    * ``row_lock``: ``mode`` ``"item"`` (default, first record of the next write gets
      ``UNABLE_TO_LOCK_ROW``) or ``"request"`` (the whole call answers 400).
    * ``bad_request``: a permanent refusal of the whole call: ``status`` 400 (default)
      or 403, ``code`` (default ``INVALID_OPERATION``) and ``message``.
    """

    kind: FaultKind
    count: int = 1
    path_contains: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


class Faults:
    """Faults armed by tests, consumed by the requests they match, oldest first."""

    def __init__(self) -> None:
        self._armed: list[Fault] = []
        self._lock = threading.Lock()
        self.fired: list[tuple[str, str]] = []

    def inject(
        self,
        kind: FaultKind,
        count: int = 1,
        path_contains: str | None = None,
        **options: Any,
    ) -> Fault:
        """Arm ``kind`` for the next ``count`` data calls whose path contains ``path_contains``."""
        if kind not in _KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(_KINDS))}")
        fault = Fault(kind, count, path_contains, dict(options))
        with self._lock:
            self._armed.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self, path: str, *, write: bool = False) -> Fault | None:
        """The first armed fault matching ``path`` (row-lock items only on writes), consumed."""
        with self._lock:
            for fault in self._armed:
                if fault.path_contains is not None and fault.path_contains not in path:
                    continue
                if (
                    fault.kind == "row_lock"
                    and fault.options.get("mode", "item") == "item"
                    and (not write)
                ):
                    continue
                fault.count -= 1
                if fault.count <= 0:
                    self._armed.remove(fault)
                self.fired.append((fault.kind, path))
                return fault
        return None


@dataclass(frozen=True)
class LoggedRequest:
    """One request the emulator answered (the Authorization header redacted)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body_size: int
    body: bytes
    status: int

    def json_body(self) -> Any:
        import json

        return json.loads(self.body) if self.body else None
