"""A create sent by a cycle that died is in doubt until the vendor has had time to carry
it out: a restart right away must neither create it again nor wait for anything else."""

from __future__ import annotations

import contextlib

from crmsync.contract import hookimpl
from crmsync.models import CreationMode, CreationRule
from crmsync.settings import CrmsyncSettings

CREATE_ALL = CreationRule(mode=CreationMode.ALL)


class Died(BaseException):
    """The process dies while its create is on the wire."""


class DieWhileSending:
    """The create left; the process died before the vendor carried it out."""

    armed = True

    @hookimpl(wrapper=True)
    def push_updates(self, requests):
        if self.armed and any(r.op == "create" for r in requests):
            self.armed = False
            raise Died
        return (yield)


def _died_while_creating(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    other = world.linked_pair(email="other@x.io", first_name="Old")
    world.prospect({"email": "doubt@x.io", "last_name": "Doubt"})
    world.prospect({"first_name": "New"}, record_id=other[0])
    world.extra_plugins.append(DieWhileSending())
    with contextlib.suppress(Died):
        world.cycle()
    world.extra_plugins.clear()
    with (
        world.store.database.transaction() as tx
    ):  # what kill -9 leaves: the lease row too
        assert world.store.pending.any(tx, world.integration.id)
    world.clock.advance(60)
    return world, other


def test_a_restart_right_away_waits_for_the_create_in_doubt_and_does_the_rest(
    make_world,
):
    world, (_, other_lead) = _died_while_creating(make_world)

    report = world.cycle()

    assert report.deferred == 1 and report.crm.created == 0
    assert world.crm.get("Lead", other_lead)["FirstName"] == "New"  # the rest ran
    # The vendor carries the lost create out after all: found and linked, not doubled.
    world.lead({"Email": "doubt@x.io", "LastName": "Doubt", "Company": "C"})
    world.clock.advance(60)
    later = world.cycle()
    assert later.linked == 1 and later.crm.created == 0
    assert len(world.crm.live("Lead")) == 2


def test_once_the_doubt_is_over_a_create_that_never_happened_is_made(make_world):
    world, _ = _died_while_creating(make_world)
    world.settings = CrmsyncSettings(write_in_doubt_seconds=0)

    report = world.engine(settings=world.settings).run_cycle()

    assert report.deferred == 0 and report.crm.created == 1
    assert len(world.crm.live("Lead")) == 2


class StopAfterDeciding:
    """The cycle is told to stop before its batches are sent."""

    def __call__(self) -> bool:
        return True


def test_creates_never_sent_are_not_in_doubt(make_world):
    # A cycle that stopped (or ran out of quota) before sending its creates leaves no
    # doubt behind: the next cycle creates them at once.
    world = make_world(create_in_crm=CREATE_ALL)
    world.prospect({"email": "never@x.io", "last_name": "Never"})
    stopped = world.engine(should_stop=StopAfterDeciding()).run_cycle()
    assert stopped.status == "stopped" and stopped.crm.created == 0
    world.clock.advance(60)

    report = world.cycle()

    assert report.deferred == 0 and report.crm.created == 1
