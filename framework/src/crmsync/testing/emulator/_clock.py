"""One clock for an emulator: follows real time until frozen, then moves on command."""

from __future__ import annotations

import datetime as dt
import threading
from email.utils import format_datetime
from typing import Literal

__all__ = ["EmulatorClock"]

Resolution = Literal["second", "millisecond", "microsecond"]


class EmulatorClock:
    """The vendor's clock, at the vendor's ``resolution`` (Salesforce stamps whole
    seconds, Dynamics milliseconds).

    It follows real time until :meth:`freeze`; frozen, it moves only by
    :meth:`advance` or :meth:`set`, so a test can make many writes share one stamp and
    never depends on the wall clock. :meth:`tick` is a frozen clock's way to give
    records seeded one after another distinct stamps.
    """

    def __init__(
        self, start: dt.datetime | None = None, *, resolution: Resolution = "second"
    ) -> None:
        self.resolution: Resolution = resolution
        self._lock = threading.Lock()
        self._frozen: dt.datetime | None = None
        if start is not None:
            self.freeze(start)

    def _truncate(self, moment: dt.datetime) -> dt.datetime:
        if self.resolution == "second":
            return moment.replace(microsecond=0)
        if self.resolution == "millisecond":
            return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        return moment

    def now(self) -> dt.datetime:
        """The current time (aware UTC, truncated to the resolution)."""
        with self._lock:
            value = self._frozen or dt.datetime.now(dt.UTC)
        return self._truncate(value)

    @property
    def frozen(self) -> bool:
        with self._lock:
            return self._frozen is not None

    def freeze(self, at: dt.datetime | None = None) -> dt.datetime:
        """Stop the clock at ``at`` (default: now)."""
        if at is not None and at.tzinfo is None:
            raise ValueError("EmulatorClock.freeze needs an aware datetime")
        with self._lock:
            moment = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
            self._frozen = self._truncate(moment)
            return self._frozen

    def set(self, at: dt.datetime) -> None:
        """Freeze the clock at ``at``."""
        self.freeze(at)

    def advance(self, seconds: float = 1.0) -> dt.datetime:
        """Move the clock forward (freezing it where it was first)."""
        if seconds < 0:
            raise ValueError("EmulatorClock.advance cannot move backwards")
        with self._lock:
            base = self._frozen or dt.datetime.now(dt.UTC)
            self._frozen = base + dt.timedelta(seconds=seconds)
            return self._truncate(self._frozen)

    def unfreeze(self) -> None:
        """Follow real time again."""
        with self._lock:
            self._frozen = None

    def http_date(self) -> str:
        """``now()`` as an HTTP ``Date`` header (RFC 7231: whole seconds, GMT): every
        emulator answer carries it, so a connector measures this clock's offset from
        its own, as it does a vendor's."""
        return format_datetime(self.now().replace(microsecond=0), usegmt=True)

    def timestamp(self) -> float:
        """``now()`` as epoch seconds (for token lifetimes)."""
        return self.now().timestamp()
