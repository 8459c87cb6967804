"""``ClockOffsetMeter``: how far a vendor's clock is from ours, from ``Date`` headers.

Every HTTP answer carries the time the vendor's server made it (RFC 7231 section
7.1.1.2, whole seconds). Sent at ``sent`` and answered at ``received`` by our clock, an
answer stamped ``D`` was made when the vendor's clock read between ``D`` and ``D + 1``
(the header drops the fraction) and ours read between ``sent`` and ``received``. So the
vendor's offset (its clock minus ours) lies in ``[D - received, D + 1 - sent]``: the
round trip plus the header's resolution wide. Each answer is such an interval, and the
truth lies in all of them: the meter keeps their intersection, which narrows as answers
fall at different points of a second. The estimate is its middle; the uncertainty its
half-width.

Intervals that do not meet mean a clock moved (ours was stepped, the vendor's was
corrected, a request went to another server): the meter starts again from the newest
answer rather than keep a bound the clocks no longer honour.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from crmsync.contract import ClockOffset

__all__ = ["ClockOffsetMeter", "parse_http_date"]

DATE_RESOLUTION_SECONDS = 1.0  # HTTP-date counts whole seconds


def parse_http_date(value: str | None) -> float | None:
    """An RFC 7231 ``Date`` value (any of its three formats) as epoch seconds, or
    ``None`` when it is missing or not a date."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # asctime form and "-0000": HTTP dates are GMT
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


class ClockOffsetMeter:
    """The intersection of every answer's offset interval (see the module docstring).

    Thread-safe: a connector's pushes answer on several threads at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._low: float | None = None
        self._high: float | None = None
        self.samples = 0

    def observe(
        self, headers: Mapping[str, str], *, sent: float, received: float
    ) -> None:
        """Narrow the estimate with one answer's headers, sent and received at these
        times of our clock. An answer without a valid ``Date``, or one a cache served
        (``Age``: its ``Date`` is when the vendor made it, not when it was sent), says
        nothing and is ignored."""
        stamp = parse_http_date(headers.get("date"))
        if stamp is None or headers.get("age") not in (None, "", "0"):
            return
        if received < sent:  # a clock stepped back mid-call: no bound from this one
            return
        low = stamp - received
        high = stamp + DATE_RESOLUTION_SECONDS - sent
        with self._lock:
            self.samples += 1
            if self._low is None or self._high is None:
                self._low, self._high = low, high
                return
            narrowed_low, narrowed_high = max(self._low, low), min(self._high, high)
            if narrowed_low > narrowed_high:  # the clocks moved: start again
                self._low, self._high = low, high
            else:
                self._low, self._high = narrowed_low, narrowed_high

    def offset(self) -> ClockOffset | None:
        """The vendor's clock minus ours and how far off that may be; ``None`` before
        any answer carried a date."""
        with self._lock:
            low, high = self._low, self._high
        if low is None or high is None:
            return None
        return ClockOffset(
            offset_seconds=(low + high) / 2, uncertainty_seconds=(high - low) / 2
        )
