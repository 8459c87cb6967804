"""DESIGN.md's worked examples, each as whole cycles between a platform and a CRM.

Each test also checks what the cycle records: ``report.decisions`` counts the rules
that moved (or deliberately kept) a field, by the names the policy gives them. Where a
wrong rule would still produce the example's values, the rule's name is what tells.
"""

from __future__ import annotations

import datetime as dt

import pytest

from crmsync.contract.models import Cursor
from crmsync.models import Direction, Mapping, SourceOfTruth
from crmsync.policy.values import is_blank

# The fields every example's records agree on, so that FirstName is the only field in
# question and the cycle's decisions name exactly its rule.
AGREED_CRM = {"LastName": "B", "Company": "C"}
AGREED_PLATFORM = {"last_name": "B", "company": "C"}



@pytest.fixture
def make_world(make_world):
    """Worlds whose every cycle is also run dry first: the plans must match."""

    def make(**options):
        world = make_world(**options)
        world.dry_run_first = True
        return world

    return make

def josh_lead(world, first_name="Josh") -> str:
    return world.lead({"Email": "s@x.io", "FirstName": first_name, **AGREED_CRM})


def steve_prospect(world, first_name="Steve") -> str:
    return world.prospect(
        {"email": "s@x.io", "first_name": first_name, **AGREED_PLATFORM}
    )


def john_linked_to_johnny(world) -> tuple[str, str]:
    """Example 1's starting state: prospect "John" is linked to CRM lead "Johnny"."""
    return world.linked_as(
        {"email": "j@x.io", "first_name": "John", **AGREED_PLATFORM},
        {"Email": "j@x.io", "FirstName": "Johnny", **AGREED_CRM},
    )


def test_example_1_both_changed_the_later_change_wins(make_world):
    """Source of truth both: prospect "John" is linked to lead "Johnny"; the platform
    changes it to "Johnathan" at 15:37, the CRM to "Jon" at 15:40. Both end "Jon".
    """
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    pid, lid = john_linked_to_johnny(world)
    world.clock.set("15:37")
    world.prospect({"first_name": "Johnathan"}, record_id=pid)
    world.clock.set("15:40")
    world.lead({"FirstName": "Jon"}, record_id=lid)
    report = world.cycle()
    assert world.platform.get("prospect", pid)["first_name"] == "Jon"
    assert world.crm.get("Lead", lid)["FirstName"] == "Jon"
    assert report.decisions == {"both_changed:crm_newer": 1}


def test_example_1_mirrored_the_platform_edited_later_wins(make_world):
    """Example 1 the other way round: the CRM changes "Johnny" to "Jon" at 15:37, the
    platform changes "John" to "Johnathan" at 15:40. Both end "Johnathan": the later
    change wins, not the CRM.
    """
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    pid, lid = john_linked_to_johnny(world)
    world.clock.set("15:37")
    world.lead({"FirstName": "Jon"}, record_id=lid)
    world.clock.set("15:40")
    world.prospect({"first_name": "Johnathan"}, record_id=pid)
    report = world.cycle()
    assert world.platform.get("prospect", pid)["first_name"] == "Johnathan"
    assert world.crm.get("Lead", lid)["FirstName"] == "Johnathan"
    assert report.decisions == {"both_changed:platform_newer": 1}


def test_example_2_crm_source_of_truth(make_world):
    """Source of truth crm: CRM "Josh", platform "Steve". Both end "Josh".

    The platform's "Steve" is the later change, so "the most recent change wins"
    (``both``) would keep "Steve": only the CRM being the source of truth makes "Josh".
    """
    world = make_world(source_of_truth=SourceOfTruth.CRM)
    lid = josh_lead(world)
    world.clock.advance(3600)
    pid = steve_prospect(world)
    report = world.cycle()
    assert report.linked == 1, report.counts()
    assert world.platform.get("prospect", pid)["first_name"] == "Josh"
    assert world.crm.get("Lead", lid)["FirstName"] == "Josh"
    assert report.decisions == {"crm_wins": 1}


def test_example_2_crm_source_of_truth_on_a_linked_pair(make_world):
    """Example 2 on a pair already linked: both sides edit the name, the CRM to "Josh"
    at 10:00, the platform to "Steve" at 10:05. Both end "Josh", the CRM's, though
    the platform's edit is the later one.
    """
    world = make_world(source_of_truth=SourceOfTruth.CRM)
    pid, lid = world.linked_pair(first_name="Stephen")
    world.clock.set("10:00")
    world.lead({"FirstName": "Josh"}, record_id=lid)
    world.clock.set("10:05")
    world.prospect({"first_name": "Steve"}, record_id=pid)
    report = world.cycle()
    assert world.platform.get("prospect", pid)["first_name"] == "Josh"
    assert world.crm.get("Lead", lid)["FirstName"] == "Josh"
    assert report.decisions == {"crm_wins": 1}


def test_example_3_platform_source_of_truth(make_world):
    """Source of truth platform: platform "Steve", CRM "Josh". Both end "Steve".

    The CRM's "Josh" is the later change, so ``both`` would keep "Josh".
    """
    world = make_world(source_of_truth=SourceOfTruth.PLATFORM)
    pid = steve_prospect(world)
    world.clock.advance(3600)
    lid = josh_lead(world)
    report = world.cycle()
    assert report.linked == 1, report.counts()
    assert world.platform.get("prospect", pid)["first_name"] == "Steve"
    assert world.crm.get("Lead", lid)["FirstName"] == "Steve"
    assert report.decisions == {"platform_wins": 1}


def test_example_4_both_the_recent_change_wins(make_world):
    """Source of truth both: platform "Steve" changed today, CRM "Josh" changed last
    week. Both end "Steve".
    """
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    lid = josh_lead(world)
    world.clock.advance(7 * 24 * 3600)  # a week later
    pid = steve_prospect(world)
    report = world.cycle()
    assert report.linked == 1, report.counts()
    assert world.platform.get("prospect", pid)["first_name"] == "Steve"
    assert world.crm.get("Lead", lid)["FirstName"] == "Steve"
    assert report.decisions == {"first_meeting:platform_newer": 1}


def test_example_4_mirrored_the_crm_changed_today(make_world):
    """Example 4 the other way round: platform "Steve" changed last week, CRM "Josh"
    changed today. Both end "Josh": the recent change wins, not the platform.
    """
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    pid = steve_prospect(world)
    world.clock.advance(7 * 24 * 3600)  # a week later
    lid = josh_lead(world)
    report = world.cycle()
    assert report.linked == 1, report.counts()
    assert world.platform.get("prospect", pid)["first_name"] == "Josh"
    assert world.crm.get("Lead", lid)["FirstName"] == "Josh"
    assert report.decisions == {"first_meeting:crm_newer": 1}


def test_example_5_crm_blank_is_filled_from_the_platform(make_world):
    """Source of truth crm: CRM blank, platform "Steve". The CRM field becomes "Steve"
    (and the platform keeps it).

    The blank CRM record is the newer one: the CRM wins unless it is blank. Under
    ``both`` "Steve" would win too (a value beats a blank), so the recorded rule is what
    shows the CRM's blank was filled rather than the most recent change deciding.
    """
    world = make_world(source_of_truth=SourceOfTruth.CRM)
    pid = steve_prospect(world)
    world.clock.advance(3600)
    lid = josh_lead(world, first_name=None)
    report = world.cycle()
    assert report.linked == 1, report.counts()
    assert world.crm.get("Lead", lid)["FirstName"] == "Steve"
    assert world.platform.get("prospect", pid)["first_name"] == "Steve"
    assert report.decisions == {"crm_blank_filled": 1}


def test_example_6_no_lost_update(make_world):
    """Source of truth both: the platform changes Phone at 10:00, the CRM changes
    FirstName at 10:05. Both changes end on both sides (no lost update).
    """
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    pid, lid = world.linked_pair(first_name="John", phone="555-0100")
    world.clock.set("10:00")
    world.prospect({"phone": "555-0199"}, record_id=pid)
    world.clock.set("10:05")
    world.lead({"FirstName": "Jon"}, record_id=lid)
    report = world.cycle()
    platform = world.platform.get("prospect", pid)
    assert (platform["first_name"], platform["phone"]) == ("Jon", "555-0199")
    crm = world.crm.get("Lead", lid)
    assert (crm["FirstName"], crm["Phone"]) == ("Jon", "555-0199")
    assert report.decisions == {"only_platform_changed": 1, "only_crm_changed": 1}


def position(world, side: str, object_name: str) -> tuple[dt.datetime, str | None]:
    """Where a side's saved cursor stands: (modification time, record id)."""
    with world.store.database.transaction() as tx:
        cursor, _ = world.store.cursors.get(tx, world.integration.id, side, object_name)
    assert isinstance(cursor, Cursor) and cursor.modified_at is not None, cursor
    return cursor.modified_at, cursor.record_id


def test_example_7_a_second_cycle_writes_nothing_and_cursors_advance(make_world):
    """After any cycle, a second cycle with no new edits writes nothing to either side
    (no echo, no sync loop), and the cursors still advance: each side's saved cursor
    stands at the last record it read.
    """
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    linked_at = world.clock.now()  # when both records are created
    pid, lid = world.linked_pair(first_name="John")
    assert position(world, "platform", "prospect") == (linked_at, pid)
    assert position(world, "crm", "Lead") == (linked_at, lid)

    edited_at = world.clock.advance()
    world.prospect({"first_name": "Jo"}, record_id=pid)
    first = world.cycle()  # runs at ``edited_at``: the CRM is written then
    assert first.writes == 1
    assert first.decisions == {"only_platform_changed": 1}
    # The platform's cursor moved on to the edit it read; the CRM's read only the lead
    # as it was linked (our write comes after the read).
    assert position(world, "platform", "prospect") == (edited_at, pid)
    assert position(world, "crm", "Lead") == (linked_at, lid)

    world.clock.advance(3600)
    second = world.cycle()
    assert second.writes == 0, second.counts()
    assert not second.decisions, second.counts()
    assert (
        world.crm.calls["push_updates"] == 1
        and "push_updates" not in second.api_calls["platform"]
    )
    # The CRM echo of our own write was read and settled without a write back, and the
    # CRM's cursor moved past the lead as linked to that echo.
    assert second.crm.read >= 1
    assert position(world, "crm", "Lead") == (edited_at, lid)
    assert position(world, "platform", "prospect") == (edited_at, pid)


def test_example_8_to_crm_never_set_then_set_then_cleared(make_world, pairs):
    """Phone mapped to_crm. The prospect never had a phone; the CRM lead has
    "555-0100": the CRM keeps it (and the platform stays blank). Later the platform
    sets "555-0199": the CRM gets it. Later still the platform clears it: the CRM field
    is cleared.
    """
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
    report = world.cycle()
    assert world.crm.get("Lead", lid)["Phone"] == "555-0100"
    assert is_blank(world.platform.get("prospect", pid)["phone"])
    assert report.decisions == {"platform_blank_never_set": 1}

    world.clock.advance()
    world.prospect({"phone": "555-0199"}, record_id=pid)
    report = world.cycle()
    assert world.crm.get("Lead", lid)["Phone"] == "555-0199"
    assert world.platform.get("prospect", pid)["phone"] == "555-0199"
    assert report.decisions == {"platform_wins": 1}

    world.clock.advance()
    world.prospect({"phone": ""}, record_id=pid)
    report = world.cycle()
    assert world.crm.get("Lead", lid)["Phone"] is None
    assert is_blank(world.platform.get("prospect", pid)["phone"])
    assert report.decisions == {"platform_cleared": 1}


@pytest.fixture(params=["local", "memory"])
def platform_kind(request) -> str:
    """The examples hold whichever connector plays the platform."""
    return request.param
