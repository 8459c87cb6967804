"""Who wins a mapped field: the sync rules of DESIGN.md as one pure function.

:func:`decide` looks at one field of one linked pair: the value each side holds now, the
value each side held when the pair last agreed (the *baseline*), and each record's
modification time. It returns which side, if any, must take the other's value, and the
name of the rule that said so. Values arrive already normalized into one comparable form
(see :mod:`.values`), so plain ``==`` is the right comparison here.

The rules, in short:

* ``to_crm`` / ``to_platform``: the owning side's value is copied across, except that a
    blank the owner never set does not wipe the other side. A deliberate clear
    (non-blank in the baseline, blank now) is a value and is copied.
* ``sync`` under source of truth ``crm`` / ``platform``: the named side wins unless it
    is a blank it never set; then the other side fills it.
* ``sync`` under ``both``: per field against the baseline. One side changed: it wins
    whatever the clocks say. Both changed: the later record modification wins, a tie
    goes to the CRM. No baseline: a value beats a blank, otherwise the later
    modification wins, a tie to the CRM.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from crmsync.contract import ClockOffset
from crmsync.models import Direction, Side, SourceOfTruth
from crmsync.policy.sides import one_way_source
from crmsync.policy.values import is_blank

__all__ = [
    "Baseline",
    "Decision",
    "SideState",
    "TimeComparison",
    "at_precision",
    "decide",
]


@dataclass(frozen=True, slots=True)
class SideState:
    """One side's current value of a field and the record's last modification time."""

    value: Any
    modified_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Baseline:
    """The values both sides held for the field when the pair last finished a cycle."""

    platform: Any
    crm: Any

    def of(self, side: Side) -> Any:
        return self.platform if side is Side.PLATFORM else self.crm


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one field: ``winner``'s value goes to the other side, or nothing
    moves.
    """

    winner: Side | None
    rule: str

    @property
    def target(self) -> Side | None:
        """The side that must be written, if any."""
        return self.winner.other if self.winner is not None else None


@dataclass(frozen=True, slots=True)
class TimeComparison:
    """How two sides' modification times are made comparable.

    Both sides' times are floored to the coarser precision of the two, then each is
    corrected by its clock's measured offset (the vendor's clock minus ours); changes
    closer than ``tie_within`` seconds are a tie, which DESIGN's tie rule gives to the
    CRM. Build it with :meth:`measured`.
    """

    precision_seconds: float = 0.0
    platform_offset_seconds: float = 0.0
    crm_offset_seconds: float = 0.0
    tie_within: float = 0.0

    @classmethod
    def measured(
        cls,
        precision_seconds: float,
        platform: ClockOffset | None,
        crm: ClockOffset | None,
    ) -> TimeComparison:
        """The comparison for two sides of this ``precision_seconds`` whose clocks were
        measured as ``platform`` and ``crm`` (``None``: unmeasured, taken as exact).

        A stamp ``T`` at precision ``p`` says the change fell in ``[T, T + p)`` of its
        clock; shifted by a measured offset, off by up to its uncertainty, it no longer
        falls on the other side's grid. One change is then surely later only when the
        two differ by at least ``p`` plus both uncertainties: closer is a tie.
        Unmeasured clocks keep the grid, where equal stamps are the tie.
        """
        offsets = [o for o in (platform, crm) if o is not None]
        uncertainty = sum(o.uncertainty_seconds for o in offsets)
        shifted = any(o.offset_seconds or o.uncertainty_seconds for o in offsets)
        return cls(
            precision_seconds=precision_seconds,
            platform_offset_seconds=platform.offset_seconds if platform else 0.0,
            crm_offset_seconds=crm.offset_seconds if crm else 0.0,
            tie_within=uncertainty + precision_seconds if shifted else 0.0,
        )

    def comparable(self, side: Side, moment: dt.datetime | None) -> dt.datetime | None:
        """``moment`` of ``side`` at the shared precision, on this machine's clock.

        Floored first, then shifted: flooring a shifted time would move a whole-second
        stamp corrected by half a second a whole second back.
        """
        floored = at_precision(moment, self.precision_seconds)
        if floored is None:
            return None
        offset = (
            self.platform_offset_seconds
            if side is Side.PLATFORM
            else self.crm_offset_seconds
        )
        if offset:
            return floored - dt.timedelta(seconds=offset)
        return floored


def decide(
    direction: Direction,
    source_of_truth: SourceOfTruth,
    *,
    platform: SideState,
    crm: SideState,
    baseline: Baseline | None,
    tie_within: float = 0.0,
) -> Decision:
    """Decide one field of one linked pair. Pure: no I/O, no clock.

    ``tie_within``: two modification times closer than this many seconds are a tie
    (the uncertainty of the two clocks' measured offsets, see
    :meth:`TimeComparison.measured`).
    """
    if _same(platform.value, crm.value):
        return _IN_AGREEMENT
    owner = one_way_source(direction)
    if owner is not None:
        owned = platform if owner is Side.PLATFORM else crm
        return _owner_decides(owner, owned, baseline, fill_blank_owner=False)
    if source_of_truth is SourceOfTruth.CRM:
        return _owner_decides(Side.CRM, crm, baseline, fill_blank_owner=True)
    if source_of_truth is SourceOfTruth.PLATFORM:
        return _owner_decides(Side.PLATFORM, platform, baseline, fill_blank_owner=True)
    return _most_recent_change(platform, crm, baseline, tie_within)


# Decided once per differing field of every changed record: the outcomes are built once.
_IN_AGREEMENT = Decision(None, "in_agreement")
_ONLY_PLATFORM_CHANGED = Decision(Side.PLATFORM, "only_platform_changed")
_ONLY_CRM_CHANGED = Decision(Side.CRM, "only_crm_changed")


def _owner_decides(
    owner: Side,
    owner_state: SideState,
    baseline: Baseline | None,
    *,
    fill_blank_owner: bool,
) -> Decision:
    """The owner's value wins; a blank the owner never set protects the other side's
    value.
    """
    if not is_blank(owner_state.value):
        return Decision(owner, f"{owner}_wins")
    if baseline is not None and not is_blank(baseline.of(owner)):
        return Decision(owner, f"{owner}_cleared")
    if fill_blank_owner:
        return Decision(owner.other, f"{owner}_blank_filled")
    return Decision(None, f"{owner}_blank_never_set")


def _most_recent_change(
    platform: SideState, crm: SideState, baseline: Baseline | None, tie_within: float
) -> Decision:
    if baseline is not None:
        platform_moved = not _same(platform.value, baseline.platform)
        crm_moved = not _same(crm.value, baseline.crm)
        if platform_moved and crm_moved:
            return _later_wins(platform, crm, "both_changed", tie_within)
        if platform_moved:
            return _ONLY_PLATFORM_CHANGED
        if crm_moved:
            return _ONLY_CRM_CHANGED
        # Neither side moved from its baseline, yet they differ (the baseline itself
        # differed, e.g. a to_crm field turned sync): settle it as a first meeting.
    platform_blank, crm_blank = is_blank(platform.value), is_blank(crm.value)
    if platform_blank != crm_blank:
        return Decision(
            Side.CRM if platform_blank else Side.PLATFORM, "value_beats_blank"
        )
    return _later_wins(platform, crm, "first_meeting", tie_within)


def _later_wins(
    platform: SideState, crm: SideState, why: str, tie_within: float = 0.0
) -> Decision:
    platform_at, crm_at = platform.modified_at, crm.modified_at
    if (
        tie_within
        and platform_at is not None
        and crm_at is not None
        and platform_at != crm_at
        and abs((platform_at - crm_at).total_seconds()) < tie_within
    ):
        return Decision(Side.CRM, f"{why}:within_clock_uncertainty_to_crm")
    if platform_at is not None and (crm_at is None or platform_at > crm_at):
        return Decision(Side.PLATFORM, f"{why}:platform_newer")
    if platform_at is not None and crm_at is not None and platform_at == crm_at:
        return Decision(Side.CRM, f"{why}:tie_to_crm")
    return Decision(Side.CRM, f"{why}:crm_newer")


def at_precision(moment: dt.datetime | None, seconds: float) -> dt.datetime | None:
    """``moment`` floored to a granularity of ``seconds`` (0: unchanged).

    Two systems' times are compared at the precision both share: a vendor stamping
    whole seconds records an edit made at 12:00:00.9 as 12:00:00, so a finer time from
    the other side within that second cannot be said to be later. Floored to the same
    granularity, the two are equal and DESIGN's tie rule decides.
    """
    if moment is None or seconds <= 0:
        return moment
    if seconds == 1.0:  # the common case, exact and cheap
        return moment.replace(microsecond=0)
    epoch = dt.datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    step = dt.timedelta(seconds=seconds)
    return epoch + ((moment - epoch) // step) * step


def _same(left: Any, right: Any) -> bool:
    if is_blank(left) and is_blank(right):
        return True
    return bool(left == right)
