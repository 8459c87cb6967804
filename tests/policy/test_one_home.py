"""The rules with one home in the policy: which side a direction writes, which pair a
create goes through, whether the source of truth may change, the match key."""

from __future__ import annotations

import datetime as dt

import pytest

from crmsync.errors import ConfigurationError
from crmsync.models import (
    CRM,
    PLATFORM,
    Direction,
    Integration,
    Mapping,
    ObjectPair,
    SourceOfTruth,
)
from crmsync.policy import (
    check_source_of_truth_change,
    creation_pair,
    default_creation_target,
    flows_to,
    match_key,
    one_way_source,
    source_of_truth_locked,
    writes,
    written_sides,
)


@pytest.mark.parametrize(
    ("direction", "written", "source"),
    [
        (Direction.TO_CRM, {CRM}, PLATFORM),
        (Direction.TO_PLATFORM, {PLATFORM}, CRM),
        (Direction.SYNC, {PLATFORM, CRM}, None),
    ],
)
def test_which_side_a_direction_writes(direction, written, source):
    assert written_sides(direction) == written
    assert one_way_source(direction) is source
    mapping = Mapping(platform_field="a", crm_field="A", direction=direction)
    for side in (PLATFORM, CRM):
        assert flows_to(mapping, side) is (side in written) is writes(direction, side)
    # A one-way mapping never writes the side it copies from.
    assert source is None or source not in written


def _pairs(*crm_objects: str) -> list[ObjectPair]:
    return [
        ObjectPair(platform_object="prospect", crm_object=name, match_order=index)
        for index, name in enumerate(crm_objects)
    ]


def test_which_pair_a_create_goes_through():
    pairs = _pairs("Contact", "Lead")
    assert creation_pair(pairs, CRM, "Contact").crm_object == "Contact"
    assert creation_pair(pairs, CRM, "Lead").crm_object == "Lead"
    # No target, or one no pair has: the last pair in match order.
    assert creation_pair(pairs, CRM, None).crm_object == "Lead"
    assert creation_pair(pairs, CRM, "Account").crm_object == "Lead"
    assert creation_pair(pairs, PLATFORM, "prospect").crm_object == "Contact"
    assert default_creation_target(pairs, CRM) == "Lead"
    assert default_creation_target(list(reversed(pairs)), CRM) == "Lead"
    assert default_creation_target(pairs, PLATFORM) == "prospect"


def test_the_source_of_truth_may_change_until_the_first_cycle():
    fresh = Integration(name="acme", platform_connector="local", crm_connector="x")
    assert not source_of_truth_locked(fresh)
    check_source_of_truth_change(fresh, SourceOfTruth.CRM)
    locked = fresh.model_copy(
        update={"source_of_truth_locked_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
    )
    assert source_of_truth_locked(locked)
    check_source_of_truth_change(locked, SourceOfTruth.BOTH)  # unchanged: fine
    with pytest.raises(ConfigurationError, match="integration rebaseline acme"):
        check_source_of_truth_change(locked, SourceOfTruth.CRM)


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("  Ada@Example.COM ", "ada@example.com"),
        ("STRASSE@x.de", "strasse@x.de"),
        ("", None),
        ("   ", None),
        (None, None),
        (42, None),
    ],
)
def test_the_match_key(value, key):
    assert match_key(value) == key
