"""The sync rules of DESIGN.md, field by field; each test reads like its example."""

from __future__ import annotations

import datetime as dt

import pytest

from crmsync.models import Direction, Side, SourceOfTruth
from crmsync.policy import Baseline, SideState, decide

BOTH, CRM, PLATFORM = SourceOfTruth.BOTH, SourceOfTruth.CRM, SourceOfTruth.PLATFORM
SYNC, TO_CRM, TO_PLATFORM = Direction.SYNC, Direction.TO_CRM, Direction.TO_PLATFORM


def at(hhmm: str, day: int = 1) -> dt.datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=dt.UTC)


def test_example_1_both_changed_the_later_change_wins():
    # Prospect "John" linked to lead "Johnny"; platform -> "Johnathan" 15:37, CRM ->
    # "Jon" 15:40.
    decision = decide(
        SYNC,
        BOTH,
        platform=SideState("Johnathan", at("15:37")),
        crm=SideState("Jon", at("15:40")),
        baseline=Baseline(platform="John", crm="Johnny"),
    )
    assert decision.winner is Side.CRM  # both end "Jon"


def test_example_2_crm_is_source_of_truth():
    decision = decide(
        SYNC, CRM, platform=SideState("Steve"), crm=SideState("Josh"), baseline=None
    )
    assert decision.winner is Side.CRM


def test_example_3_platform_is_source_of_truth():
    decision = decide(
        SYNC,
        PLATFORM,
        platform=SideState("Steve"),
        crm=SideState("Josh"),
        baseline=None,
    )
    assert decision.winner is Side.PLATFORM


def test_example_4_both_the_recent_change_wins():
    decision = decide(
        SYNC,
        BOTH,
        platform=SideState("Steve", at("09:00", day=8)),  # changed today
        crm=SideState("Josh", at("09:00", day=1)),  # changed last week
        baseline=None,
    )
    assert decision.winner is Side.PLATFORM


def test_example_5_a_blank_crm_field_is_filled_from_the_platform():
    decision = decide(
        SYNC, CRM, platform=SideState("Steve"), crm=SideState(None), baseline=None
    )
    assert decision.winner is Side.PLATFORM
    assert decision.rule == "crm_blank_filled"


def test_example_6_each_side_changed_a_different_field_and_both_changes_survive():
    # Platform changed Phone at 10:00, CRM changed FirstName at 10:05: record times
    # differ, but per field only one side moved, so the older platform edit is not
    # undone.
    phone = decide(
        SYNC,
        BOTH,
        platform=SideState("555-0199", at("10:00")),
        crm=SideState("555-0100", at("10:05")),
        baseline=Baseline(platform="555-0100", crm="555-0100"),
    )
    first_name = decide(
        SYNC,
        BOTH,
        platform=SideState("John", at("10:00")),
        crm=SideState("Jon", at("10:05")),
        baseline=Baseline(platform="John", crm="John"),
    )
    assert phone.winner is Side.PLATFORM and phone.rule == "only_platform_changed"
    assert first_name.winner is Side.CRM and first_name.rule == "only_crm_changed"


def test_example_7_agreeing_values_write_nothing():
    decision = decide(
        SYNC,
        BOTH,
        platform=SideState("Jon", at("10:00")),
        crm=SideState("Jon", at("11:00")),
        baseline=Baseline(platform="Jon", crm="Jon"),
    )
    assert decision.winner is None and decision.target is None


def test_example_8_to_crm_blank_never_set_then_set_then_cleared():
    # The prospect never had a phone; the CRM lead has one: the CRM keeps it.
    never_set = decide(
        TO_CRM, BOTH, platform=SideState(None), crm=SideState("555-0100"), baseline=None
    )
    assert never_set.winner is None
    still_never_set = decide(
        TO_CRM,
        BOTH,
        platform=SideState(""),
        crm=SideState("555-0100"),
        baseline=Baseline(platform=None, crm="555-0100"),
    )
    assert still_never_set.winner is None
    # Later the platform sets "555-0199": the CRM gets it.
    set_later = decide(
        TO_CRM,
        BOTH,
        platform=SideState("555-0199"),
        crm=SideState("555-0100"),
        baseline=Baseline(platform=None, crm="555-0100"),
    )
    assert set_later.winner is Side.PLATFORM
    # Later still the platform clears it: the CRM field is cleared.
    cleared = decide(
        TO_CRM,
        BOTH,
        platform=SideState(None),
        crm=SideState("555-0199"),
        baseline=Baseline(platform="555-0199", crm="555-0199"),
    )
    assert cleared.winner is Side.PLATFORM and cleared.rule == "platform_cleared"


def test_to_platform_is_the_mirror_image():
    assert (
        decide(
            TO_PLATFORM,
            BOTH,
            platform=SideState("x"),
            crm=SideState(None),
            baseline=None,
        ).winner
        is None
    )
    assert (
        decide(
            TO_PLATFORM,
            BOTH,
            platform=SideState("x"),
            crm=SideState("y"),
            baseline=None,
        ).winner
        is Side.CRM
    )
    assert (
        decide(
            TO_PLATFORM,
            BOTH,
            platform=SideState("x"),
            crm=SideState(" "),
            baseline=Baseline(platform="x", crm="x"),
        ).winner
        is Side.CRM
    )


def test_to_crm_the_platform_wins_even_when_only_the_crm_changed():
    decision = decide(
        TO_CRM,
        BOTH,
        platform=SideState("a", at("09:00")),
        crm=SideState("b", at("10:00")),
        baseline=Baseline("a", "a"),
    )
    assert decision.winner is Side.PLATFORM


def test_both_only_one_side_changed_wins_whatever_the_timestamps():
    decision = decide(
        SYNC,
        BOTH,
        platform=SideState("new", at("09:00")),
        crm=SideState("old", at("23:00")),
        baseline=Baseline("old", "old"),
    )
    assert decision.winner is Side.PLATFORM


def test_both_an_exact_tie_goes_to_the_crm():
    decision = decide(
        SYNC,
        BOTH,
        platform=SideState("p", at("10:00")),
        crm=SideState("c", at("10:00")),
        baseline=Baseline("x", "x"),
    )
    assert decision.winner is Side.CRM and decision.rule.endswith("tie_to_crm")


def test_both_first_meeting_a_value_beats_a_blank_whatever_the_times():
    decision = decide(
        SYNC,
        BOTH,
        platform=SideState("Steve", at("08:00")),
        crm=SideState(None, at("12:00")),
        baseline=None,
    )
    assert decision.winner is Side.PLATFORM and decision.rule == "value_beats_blank"


def test_both_a_clear_since_the_baseline_is_a_change_and_propagates():
    decision = decide(
        SYNC,
        BOTH,
        platform=SideState("Steve", at("08:00")),
        crm=SideState("", at("12:00")),
        baseline=Baseline("Steve", "Steve"),
    )
    assert decision.winner is Side.CRM and decision.rule == "only_crm_changed"


@pytest.mark.parametrize("blank", [None, "", "   ", [], ()])
def test_blank_values_agree_with_each_other(blank):
    assert (
        decide(
            SYNC, BOTH, platform=SideState(blank), crm=SideState(None), baseline=None
        ).winner
        is None
    )


def test_crm_source_of_truth_a_deliberate_crm_clear_is_a_value():
    decision = decide(
        SYNC,
        CRM,
        platform=SideState("Steve"),
        crm=SideState(None),
        baseline=Baseline("Steve", "Steve"),
    )
    assert decision.winner is Side.CRM and decision.rule == "crm_cleared"


def test_platform_source_of_truth_blank_platform_is_filled_from_the_crm():
    decision = decide(
        SYNC, PLATFORM, platform=SideState(None), crm=SideState("Josh"), baseline=None
    )
    assert decision.winner is Side.CRM


def test_at_precision_floors_to_the_shared_granularity():
    import datetime as dt

    from crmsync.policy.rules import at_precision

    moment = dt.datetime(2026, 1, 1, 12, 0, 7, 900_000, tzinfo=dt.UTC)
    assert at_precision(moment, 0) == moment
    assert at_precision(moment, 1.0) == moment.replace(microsecond=0)
    assert at_precision(moment, 5.0) == moment.replace(second=5, microsecond=0)
    assert at_precision(moment, 0.001) == moment
    assert at_precision(None, 1.0) is None
