"""The per-field decision log: each field a cycle really wrote, with its rule and run;
nothing for a dry run; purged past the retention at the end of a cycle."""

from __future__ import annotations

from sqlalchemy import func, select

from crmsync.models import CreationMode, CreationRule
from crmsync.settings import CrmsyncSettings
from crmsync.store._schema import field_decisions

CREATE_ALL = CreationRule(mode=CreationMode.ALL)


def _logged(world) -> list[tuple]:
    with world.store.database.engine.connect() as connection:
        return [
            (row.run_id, row.side, row.object_name, row.record_id, row.field, row.rule)
            for row in connection.execute(
                select(field_decisions).order_by(field_decisions.c.id)
            )
        ]


def test_creates_and_updates_are_logged_with_their_rule_and_run(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    world.prospect({"email": "a@x.io", "last_name": "Doe", "company": "Initech"})
    dry = world.engine().run_cycle(dry_run=True)
    assert dry.crm.created == 1 and _logged(world) == []  # a dry run logs nothing
    created = world.cycle()
    (lead,) = world.crm.live("Lead")
    logged = _logged(world)
    assert logged and {row[:4] for row in logged} == {
        (created.run_id, "crm", "Lead", lead)
    }
    assert {row[5] for row in logged} == {"create_in_crm"}
    assert {"Email", "LastName"} <= {row[4] for row in logged}
    with world.store.database.transaction() as tx:
        assert world.store.links.count(tx, world.integration.id) == 1

    world.clock.advance()
    pid = next(iter(world.platform.live("prospect")))
    world.prospect({"email": "a@x.io", "last_name": "Dough"}, record_id=pid)
    updated = world.cycle()
    assert updated.crm.updated == 1
    new = _logged(world)[len(logged) :]
    (rule,) = {row[5] for row in new}
    assert new == [(updated.run_id, "crm", "Lead", lead, "LastName", rule)]
    assert rule in updated.decisions


def test_a_cycle_purges_the_log_past_its_retention(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    settings = CrmsyncSettings(decision_log_days=1)
    world.prospect({"email": "a@x.io", "last_name": "Doe", "company": "Initech"})
    assert world.engine(settings=settings).run_cycle().crm.created == 1
    assert _logged(world)
    world.clock.advance(12 * 3600)
    world.engine(settings=settings).run_cycle()
    assert _logged(world), "purged before its retention ran out"
    world.clock.advance(13 * 3600)
    world.engine(settings=settings).run_cycle()
    with world.store.database.engine.connect() as connection:
        left = connection.execute(select(func.count()).select_from(field_decisions))
        assert left.scalar() == 0
