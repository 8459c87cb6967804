"""One API budget per vendor org, shared by every worker: integrations in one budget
group never together pass the share of the allocation their connector allows.

Each connection alone stops at its own latest reading of the vendor's usage
(:class:`~crmsync.contract.ApiBudget`), but between two of its readings the other
integrations of the org spend calls it does not see, and a new connection has no
reading at all. :class:`SharedBudget`, registered on the CRM connection of each
integration of a group, keeps one estimate in Redis:

* every reading a connection gets is published; the estimate is the highest reading
  of the last ``fresh_seconds`` plus every call admitted since, by any worker;
* every vendor call is admitted atomically (a Lua script): only while the estimate is
  below the allowed usage, and counted at once. So however many workers call at the
  same moment, admitted calls stop at the share; a refused call ends the cycle as
  ``stopped`` (``BudgetExhausted``), to resume on a later dispatch;
* with no fresh reading (a new day, a quiet org) calls are admitted until one
  answers with a reading, as a single connection does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

from crmsync.contract import ApiBudget, hookimpl
from crmsync.errors import BudgetExhausted

_ADMIT = """
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '0')
if at == 0 or tonumber(ARGV[1]) - at > tonumber(ARGV[2]) then
  return {-1, 0, 0, 0}
end
local used = tonumber(redis.call('HGET', KEYS[1], 'used'))
local limit = tonumber(redis.call('HGET', KEYS[1], 'limit'))
local allowed = tonumber(redis.call('HGET', KEYS[1], 'allowed'))
if used >= allowed then
  return {0, used, limit, allowed}
end
redis.call('HINCRBY', KEYS[1], 'used', 1)
return {1, used + 1, limit, allowed}
"""

_PUBLISH = """
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '0')
local used = tonumber(ARGV[1])
if at ~= 0 and tonumber(ARGV[4]) - at <= tonumber(ARGV[5]) then
  local current = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
  if current > used then used = current end
end
redis.call('HSET', KEYS[1], 'used', used, 'limit', ARGV[2], 'allowed', ARGV[3],
           'at', ARGV[4])
redis.call('EXPIRE', KEYS[1], 86400)
return used
"""

KEY_PREFIX = "crmsync:budget:"


class SharedBudget:
    """A pluggy plugin for a CRM connection: admits each vendor call against the
    group's shared estimate and publishes the connector's readings to it.

    :param client: a ``redis.Redis`` client.
    :param group: the budget group (one per vendor org), ``crmsync workers add
        --budget-group``.
    :param fresh_seconds: how long a reading describes the org (Salesforce's rolling
        24-hour usage: 5 minutes, as the connector itself assumes).
    """

    def __init__(
        self,
        client: Any,
        group: str,
        *,
        fresh_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = KEY_PREFIX + group
        self.group = group
        self.fresh_seconds = fresh_seconds
        self.clock = clock
        self._admit = client.register_script(_ADMIT)
        self._publish = client.register_script(_PUBLISH)
        self._last_reading: ApiBudget | None = None

    # -- readings ----------------------------------------------------------------------
    @hookimpl(wrapper=True)
    def api_budget(self) -> Generator[None, ApiBudget | None, ApiBudget | None]:
        own = yield
        if own is not None and own != self._last_reading:
            self._last_reading = own
            used = int(
                self._publish(
                    keys=[self.key],
                    args=[
                        own.used,
                        own.limit,
                        own.allowed,
                        self.clock(),
                        self.fresh_seconds,
                    ],
                )
            )
            return ApiBudget(used=used, limit=own.limit, allowed=own.allowed)
        return own

    # -- admission of every vendor call ----------------------------------------------
    def _admitted(self) -> None:
        state, used, limit, allowed = (
            int(value)
            for value in self._admit(
                keys=[self.key], args=[self.clock(), self.fresh_seconds]
            )
        )
        if state == 0:
            raise BudgetExhausted(
                f"API budget of group {self.group!r} reached: {used} of {limit} calls "
                f"used across its integrations (crmsync stops at {allowed}); the cycle "
                "stops and resumes next time",
                used=used,
                limit=limit,
                allowed=allowed,
            )

    @hookimpl(wrapper=True)
    def fetch_changed(self) -> Generator[None, Any, Any]:
        self._admitted()
        return (yield)

    @hookimpl(wrapper=True)
    def push_updates(self) -> Generator[None, Any, Any]:
        self._admitted()
        return (yield)

    @hookimpl(wrapper=True)
    def lookup_records(self) -> Generator[None, Any, Any]:
        self._admitted()
        return (yield)

    @hookimpl(wrapper=True)
    def list_fields(self) -> Generator[None, Any, Any]:
        self._admitted()
        return (yield)


def budget_state(client: Any, group: str) -> dict[str, int] | None:
    """The group's shared estimate as stored (``used``, ``limit``, ``allowed``,
    ``at``), or ``None`` before its first reading."""
    raw = client.hgetall(KEY_PREFIX + group)
    if not raw:
        return None
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): int(float(v))
        for k, v in raw.items()
    }


__all__ = ["KEY_PREFIX", "SharedBudget", "budget_state"]
