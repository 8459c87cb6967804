"""DESIGN.md's worked examples, each as whole cycles between a platform and a CRM."""

from __future__ import annotations

import pytest

from crmsync.models import Direction, Mapping, SourceOfTruth


def test_example_1_both_changed_the_later_change_wins(make_world):
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    pid, lid = world.linked_pair(first_name="John")
    world.clock.set("15:37")
    world.prospect({"first_name": "Johnathan"}, record_id=pid)
    world.clock.set("15:40")
    world.lead({"FirstName": "Jon"}, record_id=lid)
    world.cycle()
    assert world.platform.get("prospect", pid)["first_name"] == "Jon"
    assert world.crm.get("Lead", lid)["FirstName"] == "Jon"


def test_example_2_crm_source_of_truth(make_world):
    world = make_world(source_of_truth=SourceOfTruth.CRM)
    pid = world.prospect({"email": "s@x.io", "first_name": "Steve"})
    lid = world.lead(
        {"Email": "s@x.io", "FirstName": "Josh", "LastName": "B", "Company": "C"}
    )
    world.cycle()
    assert world.platform.get("prospect", pid)["first_name"] == "Josh"
    assert world.crm.get("Lead", lid)["FirstName"] == "Josh"


def test_example_3_platform_source_of_truth(make_world):
    world = make_world(source_of_truth=SourceOfTruth.PLATFORM)
    pid = world.prospect({"email": "s@x.io", "first_name": "Steve"})
    lid = world.lead(
        {"Email": "s@x.io", "FirstName": "Josh", "LastName": "B", "Company": "C"}
    )
    world.cycle()
    assert world.platform.get("prospect", pid)["first_name"] == "Steve"
    assert world.crm.get("Lead", lid)["FirstName"] == "Steve"


def test_example_4_both_the_recent_change_wins(make_world):
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    lid = world.lead(
        {"Email": "s@x.io", "FirstName": "Josh", "LastName": "B", "Company": "C"}
    )
    world.clock.advance(7 * 24 * 3600)  # a week later
    pid = world.prospect({"email": "s@x.io", "first_name": "Steve"})
    world.cycle()
    assert world.platform.get("prospect", pid)["first_name"] == "Steve"
    assert world.crm.get("Lead", lid)["FirstName"] == "Steve"


def test_example_5_crm_blank_is_filled_from_the_platform(make_world):
    world = make_world(source_of_truth=SourceOfTruth.CRM)
    world.prospect({"email": "s@x.io", "first_name": "Steve"})
    lid = world.lead(
        {"Email": "s@x.io", "FirstName": None, "LastName": "B", "Company": "C"}
    )
    world.cycle()
    assert world.crm.get("Lead", lid)["FirstName"] == "Steve"


def test_example_6_no_lost_update(make_world):
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    pid, lid = world.linked_pair(first_name="John", phone="555-0100")
    world.clock.set("10:00")
    world.prospect({"phone": "555-0199"}, record_id=pid)
    world.clock.set("10:05")
    world.lead({"FirstName": "Jon"}, record_id=lid)
    world.cycle()
    for values in (world.platform.get("prospect", pid),):
        assert (values["first_name"], values["phone"]) == ("Jon", "555-0199")
    crm = world.crm.get("Lead", lid)
    assert (crm["FirstName"], crm["Phone"]) == ("Jon", "555-0199")


def test_example_7_a_second_cycle_writes_nothing_and_cursors_advance(make_world):
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    pid, _ = world.linked_pair(first_name="John")
    world.clock.advance()
    world.prospect({"first_name": "Jo"}, record_id=pid)
    first = world.cycle()
    assert first.writes == 1
    with world.store.transaction() as tx:
        before, _ = world.store.get_cursor(tx, world.integration.id, "crm", "Lead")
    world.clock.advance(3600)
    second = world.cycle()
    assert second.writes == 0, second.counts()
    assert (
        world.crm.calls["push_updates"] == 1
        and "push_updates" not in second.api_calls["platform"]
    )
    with world.store.transaction() as tx:
        after, _ = world.store.get_cursor(tx, world.integration.id, "crm", "Lead")
    assert after is not None and before is not None
    assert after.sort_key() >= before.sort_key()
    # The CRM echo of our own write was read and settled without a write back.
    assert second.crm.read >= 1


def test_example_8_to_crm_never_set_then_set_then_cleared(make_world, pairs):
    pairs = pairs(
        mappings=(
            Mapping(
                platform_field="email", crm_field="Email", direction=Direction.SYNC
            ),
            Mapping(
                platform_field="phone", crm_field="Phone", direction=Direction.TO_CRM
            ),
        )
    )
    world = make_world(pairs=pairs)
    pid = world.prospect({"email": "p@x.io", "phone": None})
    lid = world.lead(
        {"Email": "p@x.io", "Phone": "555-0100", "LastName": "L", "Company": "C"}
    )
    world.cycle()
    assert world.crm.get("Lead", lid)["Phone"] == "555-0100"
    world.clock.advance()
    world.prospect({"phone": "555-0199"}, record_id=pid)
    world.cycle()
    assert world.crm.get("Lead", lid)["Phone"] == "555-0199"
    world.clock.advance()
    world.prospect({"phone": ""}, record_id=pid)
    world.cycle()
    assert world.crm.get("Lead", lid)["Phone"] is None


@pytest.fixture(params=["local", "memory"])
def platform_kind(request) -> str:
    """The examples hold whichever connector plays the platform."""
    return request.param
