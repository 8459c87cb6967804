"""Two sides' modification times are compared at the precision both share."""

from __future__ import annotations

import datetime as dt

from crmsync.contract import ClockOffset, ConnectorDescription, hookimpl
from crmsync.testing.memory import MemoryConnector


class WholeSecondCrm(MemoryConnector):
    """The in-memory CRM describing itself as a vendor that stamps whole seconds."""

    @staticmethod
    def describe_connector() -> ConnectorDescription:
        return MemoryConnector.describe_connector().model_copy(
            update={"timestamp_precision_seconds": 1.0}
        )


def test_a_crm_edit_in_the_second_of_crmsyncs_own_platform_write_is_not_lost(
    make_world,
):
    # crmsync wrote the CRM's "V1" to the platform at .5 s and died before it stored
    # the baseline; a CRM user then set "V2" in the same second, stamped whole. Both
    # sides differ from the baseline: a finer platform time must not beat a CRM time
    # it cannot be told apart from (it pushed the older "V1" back over "V2").
    world = make_world()
    world.crm_connector = WholeSecondCrm
    world.crm.now = lambda: world.clock.now().replace(microsecond=0)
    pid, lid = world.linked_pair(first_name="Old")
    world.clock.at = world.clock.at.replace(microsecond=0) + dt.timedelta(seconds=30)
    world.lead({"FirstName": "V1"}, record_id=lid)
    world.clock.advance(0.5)
    world.prospect({"first_name": "V1"}, record_id=pid)
    world.clock.advance(0.2)
    world.lead({"FirstName": "V2"}, record_id=lid)
    world.clock.advance(60)

    report = world.cycle()

    assert world.crm.get("Lead", lid)["FirstName"] == "V2"
    assert world.platform.get("prospect", pid)["first_name"] == "V2"
    assert report.decisions.get("both_changed:tie_to_crm") == 1


def test_without_a_declared_precision_the_finer_later_time_still_wins(make_world):
    world = make_world()
    pid, lid = world.linked_pair(first_name="Old")
    world.clock.at = world.clock.at.replace(microsecond=0) + dt.timedelta(seconds=30)
    world.lead({"FirstName": "Crm"}, record_id=lid)
    world.clock.advance(0.5)
    world.prospect({"first_name": "Platform"}, record_id=pid)
    world.clock.advance(60)

    report = world.cycle()

    assert world.crm.get("Lead", lid)["FirstName"] == "Platform"
    assert report.decisions.get("both_changed:platform_newer") == 1


class SkewedCrm(MemoryConnector):
    """The in-memory CRM whose clock runs ``OFFSET`` seconds from ours, as measured."""

    OFFSET = -90.0
    UNCERTAINTY = 0.5

    @hookimpl
    def clock_offset(self) -> ClockOffset:
        return ClockOffset(
            offset_seconds=self.OFFSET, uncertainty_seconds=self.UNCERTAINTY
        )


def _skewed_world(make_world, offset: float, uncertainty: float):
    world = make_world()
    connector = type(
        "Skewed", (SkewedCrm,), {"OFFSET": offset, "UNCERTAINTY": uncertainty}
    )
    world.crm_connector = connector
    pid, lid = world.linked_pair(first_name="Old")
    return world, pid, lid


def test_a_vendor_clock_behind_ours_is_corrected_before_times_compare(make_world):
    world, pid, lid = _skewed_world(make_world, offset=-90.0, uncertainty=0.5)
    base = world.clock.at.replace(microsecond=0) + dt.timedelta(minutes=5)
    # Truly: the platform at base, the CRM 30 s later; its clock says 60 s earlier.
    world.prospect({"first_name": "Platform"}, record_id=pid, at=base)
    world.lead(
        {"FirstName": "Crm"}, record_id=lid, at=base + dt.timedelta(seconds=30 - 90)
    )
    world.clock.at = base + dt.timedelta(minutes=5)

    report = world.cycle()

    assert world.platform.get("prospect", pid)["first_name"] == "Crm"
    assert report.decisions.get("both_changed:crm_newer") == 1
    assert report.clock_offsets == {
        "crm": {"offset_seconds": -90.0, "uncertainty_seconds": 0.5}
    }
    assert report.counts()["clock_offsets"] == report.clock_offsets


def test_changes_closer_than_the_clocks_uncertainty_are_a_tie_the_crm_wins(
    make_world,
):
    world, pid, lid = _skewed_world(make_world, offset=0.0, uncertainty=3.0)
    base = world.clock.at.replace(microsecond=0) + dt.timedelta(minutes=5)
    world.lead({"FirstName": "Crm"}, record_id=lid, at=base)
    world.prospect(
        {"first_name": "Platform"}, record_id=pid, at=base + dt.timedelta(seconds=2)
    )
    world.clock.at = base + dt.timedelta(minutes=5)

    report = world.cycle()

    assert world.platform.get("prospect", pid)["first_name"] == "Crm"
    assert report.decisions.get("both_changed:within_clock_uncertainty_to_crm") == 1


def _decided(times, platform_at, crm_at):
    from crmsync.models import Direction, Side, SourceOfTruth
    from crmsync.policy import Baseline, SideState, decide

    return decide(
        Direction.SYNC,
        SourceOfTruth.BOTH,
        platform=SideState("P", times.comparable(Side.PLATFORM, platform_at)),
        crm=SideState("C", times.comparable(Side.CRM, crm_at)),
        baseline=Baseline("old", "old"),
        tie_within=times.tie_within,
    ).rule


def test_a_half_second_offset_does_not_move_a_whole_second_stamp_a_second_back():
    from crmsync.policy.rules import TimeComparison

    # Clocks on time, measured from whole-second Date headers as 0.5 s +- 0.5 s: a CRM
    # stamp T says the change fell in [T - 1, T + 1) of ours. A platform change in the
    # same second cannot be called later; one a whole second past that window can.
    times = TimeComparison.measured(
        1.0, None, ClockOffset(offset_seconds=0.5, uncertainty_seconds=0.5)
    )
    stamp = dt.datetime(2026, 12, 1, 9, 0, 0, tzinfo=dt.UTC)
    same_second = stamp + dt.timedelta(seconds=0.3)
    assert _decided(times, same_second, stamp).endswith(
        "within_clock_uncertainty_to_crm"
    )
    later = stamp + dt.timedelta(seconds=1.2)
    assert _decided(times, later, stamp) == "both_changed:platform_newer"


def test_unmeasured_clocks_keep_the_grid_where_only_equal_stamps_tie():
    from crmsync.policy.rules import TimeComparison

    times = TimeComparison.measured(1.0, None, None)
    stamp = dt.datetime(2026, 12, 1, 9, 0, 0, tzinfo=dt.UTC)
    assert times.tie_within == 0.0
    assert _decided(times, stamp + dt.timedelta(seconds=0.9), stamp) == (
        "both_changed:tie_to_crm"
    )
    assert _decided(times, stamp + dt.timedelta(seconds=1), stamp) == (
        "both_changed:platform_newer"
    )
