"""The cycle after a write: crmsync's own writes read back are not news."""

from __future__ import annotations

from crmsync.models import CreationMode, CreationRule

CREATE_ALL = CreationRule(mode=CreationMode.ALL)


class CountStaged:
    """Counts the records the engine stages, through the store it was given."""

    def __init__(self, store) -> None:
        self.staged = 0
        original = store.inbox.stage

        def stage(tx, iid, side, object_name, records, tombstones, key_of):
            self.staged += len(records)
            return original(tx, iid, side, object_name, records, tombstones, key_of)

        store.inbox.stage = stage


def test_the_cycle_after_creates_stages_and_decides_none_of_its_echoes(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    for n in range(20):
        world.prospect({"email": f"p{n}@x.io", "last_name": f"P{n}"})
    first = world.cycle()
    assert first.crm.created == 20
    world.clock.advance(30)  # within the overlap window: the creates are read again
    counter = CountStaged(world.store)

    echo = world.cycle()

    assert echo.crm.read == 20 and echo.crm.unchanged == 20
    assert echo.writes == 0 and not echo.decisions
    assert counter.staged == 0


def test_a_real_edit_among_echoes_is_still_decided(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    ids = [world.prospect({"email": f"p{n}@x.io", "last_name": "P"}) for n in range(5)]
    world.cycle()
    lead_id = next(iter(world.crm.rows["Lead"]))
    world.lead({"FirstName": "Edited"}, record_id=lead_id)
    world.clock.advance(30)

    report = world.cycle()

    assert report.crm.unchanged == 4
    assert report.platform.updated == 1
    firsts = {world.platform.get("prospect", pid).get("first_name") for pid in ids}
    assert "Edited" in firsts


def test_a_back_fill_reads_and_decides_everything_again(make_world):
    world = make_world()
    world.linked_pair(first_name="Same")
    world.store.config.rebaseline(
        world.integration.name, world.integration.source_of_truth
    )
    world.clock.advance(30)

    report = world.cycle()

    assert report.crm.unchanged == 0 and report.platform.unchanged == 0
    assert report.crm.read == 1 and report.platform.read == 1
