"""The intent ledger: crmsync knows its own updates across a crash (issue 12).

The process dies after the vendor accepted an update and before the answer's baseline
was stored. Meanwhile a user edited the other side. Without a record of what crmsync
meant to write, the next cycle sees "both changed" and the later stamp, crmsync's own
write, pushes the older value back over the user's edit.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from crmsync.contract import hookimpl
from crmsync.errors import OutcomeUnknown
from crmsync.settings import CrmsyncSettings


class Died(BaseException):
    """The process dies: nothing after it runs."""


class EditThenDieAfterTheCrmAccepts:
    """While crmsync's update is on its way to the CRM, a platform user edits the same
    field; the CRM carries the update out, then the process dies before it records the
    answer."""

    def __init__(self, world, prospect_id: str, value: str) -> None:
        self.world, self.prospect_id, self.value = world, prospect_id, value
        self.armed = True

    @hookimpl(wrapper=True)
    def push_updates(self, requests):
        if not self.armed or not any(r.op == "update" for r in requests):
            return (yield)
        self.armed = False
        self.world.clock.advance(1)
        self.world.prospect({"first_name": self.value}, record_id=self.prospect_id)
        self.world.clock.advance(1)
        yield  # the CRM accepts and stamps the write, a second after the edit
        raise Died


def _intents(world) -> list[tuple[str, str]]:
    with world.store.database.transaction() as tx:
        found = world.store.intents.left_behind(tx, world.integration.id)
    return sorted((side, record_id) for side, _, record_id in found)


def _crash_between_write_and_baseline(world):
    pid, lid = world.linked_pair(first_name="Old")
    world.prospect({"first_name": "Mine"}, record_id=pid)  # crmsync pushes this ...
    world.clock.advance(60)
    world.extra_plugins.append(EditThenDieAfterTheCrmAccepts(world, pid, "Newer"))
    with pytest.raises(Died):
        world.cycle()
    world.extra_plugins.clear()
    assert world.crm.get("Lead", lid)["FirstName"] == "Mine"  # ... and it landed
    world.clock.advance(60)
    return pid, lid


def test_after_a_crash_the_edit_made_meanwhile_wins_over_crmsyncs_own_write(
    make_world, database_url
):
    world = make_world(url=database_url)
    pid, lid = _crash_between_write_and_baseline(world)
    assert _intents(world) == [("crm", lid)]  # what the dead cycle meant to write

    report = world.cycle()

    assert world.platform.get("prospect", pid)["first_name"] == "Newer"
    assert world.crm.get("Lead", lid)["FirstName"] == "Newer"
    assert report.decisions.get("only_platform_changed") == 1, report.decisions
    assert world.cycle().writes == 0
    # Kept for the in-doubt window (a vendor may carry a lost call out late), harmless
    # meanwhile; a cycle after the window drops it.
    assert _intents(world) == [("crm", lid)]
    world.engine(settings=CrmsyncSettings(write_in_doubt_seconds=0)).run_cycle()
    assert _intents(world) == []


def test_a_spent_intent_does_not_take_a_users_later_edit_for_crmsyncs(make_world):
    # The intent outlives its recovery (the in-doubt window); a CRM user then sets the
    # value crmsync once meant to write. The pair's baseline was stored since that
    # write was decided, so this is the user's edit, and it is synced.
    world = make_world()
    pid, lid = _crash_between_write_and_baseline(world)
    world.cycle()
    assert _intents(world) == [("crm", lid)]
    world.clock.advance(60)
    world.lead({"FirstName": "Mine"}, record_id=lid)
    world.clock.advance(60)

    report = world.cycle()

    assert report.decisions.get("only_crm_changed") == 1, report.decisions
    assert world.platform.get("prospect", pid)["first_name"] == "Mine"


def test_without_the_ledger_crmsyncs_own_older_write_would_win(
    make_world, database_url
):
    # The same crash with the ledger's rows gone (what crmsync did before it kept one):
    # "both changed", and the CRM's later stamp (crmsync's own write) wins.
    world = make_world(url=database_url)
    pid, _lid = _crash_between_write_and_baseline(world)
    with world.store.database.transaction() as tx:
        tx.execute(text("DELETE FROM write_intents"))

    report = world.cycle()

    assert world.platform.get("prospect", pid)["first_name"] == "Mine"
    assert report.decisions.get("both_changed:crm_newer") == 1, report.decisions


def test_a_write_crmsync_made_and_recorded_leaves_no_intent(make_world):
    world = make_world()
    pid, lid = world.linked_pair(first_name="Old")
    world.prospect({"first_name": "New"}, record_id=pid)
    world.lead({"Phone": "+1 555 0100"}, record_id=lid)
    world.clock.advance(60)

    report = world.cycle()

    assert report.crm.updated == 1 and report.platform.updated == 1
    assert _intents(world) == []


class LoseTheAnswer:
    """The CRM carries the update out; its answer never arrives."""

    @hookimpl(wrapper=True)
    def push_updates(self, requests):
        yield
        raise OutcomeUnknown("the answer was lost", connector="memory")


def test_an_update_whose_answer_was_lost_keeps_its_intent(make_world):
    world = make_world()
    pid, lid = world.linked_pair(first_name="Old")
    world.prospect({"first_name": "New"}, record_id=pid)
    world.clock.advance(60)
    world.extra_plugins.append(LoseTheAnswer())

    report = world.cycle()

    assert report.crm.failed == 1
    assert _intents(world) == [("crm", lid)]  # the vendor may still carry it out


def test_intents_left_over_expire_after_the_in_doubt_window(make_world):
    world = make_world()
    pid, _lid = _crash_between_write_and_baseline(world)
    world.prospect({"first_name": "Again"}, record_id=pid)  # not what was intended
    with world.store.database.transaction() as tx:
        world.store.intents.add(
            tx,
            world.integration.id,
            [("crm", "Lead", "gone-lead", {"k": [[0, 0], [1, 1]]})],
        )
    world.clock.advance(60)

    world.cycle()  # within the window: the intents left over stay
    assert ("crm", "gone-lead") in _intents(world)

    world.engine(settings=CrmsyncSettings(write_in_doubt_seconds=0)).run_cycle()
    assert _intents(world) == []


def test_a_dry_run_writes_no_intent_where_a_real_cycle_would_see_it(
    make_world, database_url
):
    world = make_world(url=database_url)
    pid, lid = world.linked_pair(first_name="Old")
    world.prospect({"first_name": "New"}, record_id=pid)
    world.clock.advance(60)

    report = world.cycle(dry_run=True)

    assert report.crm.updated == 1
    assert _intents(world) == []
    assert world.crm.get("Lead", lid)["FirstName"] == "Old"


def test_a_dry_run_after_a_crash_plans_what_the_real_run_does(
    make_world, database_url
):
    world = make_world(url=database_url)
    _pid, lid = _crash_between_write_and_baseline(world)

    planned = world.cycle(dry_run=True)

    assert planned.decisions.get("only_platform_changed") == 1, planned.decisions
    assert _intents(world) == [("crm", lid)]  # the real table is untouched
