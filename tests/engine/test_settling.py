"""Settled inbox rows: kept for matching while a feed is read in full, deleted at once
where matching asks the vendor instead.
"""

from __future__ import annotations

from crmsync.models import CreationMode, CreationRule

CREATE_ALL = CreationRule(mode=CreationMode.ALL)


def engine(world, store_calls, **options):
    original = world.store.inbox.delete

    def delete_inbox(tx, ids):
        store_calls.append(list(ids))
        return original(tx, ids)

    world.store.inbox.delete = delete_inbox
    return world.engine(**options)


def test_an_incremental_cycle_deletes_settled_rows_and_still_creates_no_duplicate(
    make_world,
):
    world = make_world(create_in_crm=CREATE_ALL)
    pid, lid = world.linked_pair(first_name="Ada", email="ada@x.io")
    # Both sides of the pair change, so the lead's row settles with the pair, in the
    # first chunk. A second prospect with the same email comes later, in a chunk of its
    # own: its only candidate is that lead, linked elsewhere, which matching must still
    # see (now by looking it up in the CRM), so nothing is created.
    world.prospect({"first_name": "Ada B."}, record_id=pid)
    world.lead({"Phone": "+1 555 0100"}, record_id=lid)
    world.clock.advance()
    world.prospect({"email": "ADA@x.io ", "last_name": "Twin"})
    deleted: list[list[int]] = []

    report = engine(world, deleted, chunk_size=1).run_cycle()

    assert report.status == "succeeded", report.message
    assert report.crm.created == 0 and report.crm.updated == 1
    assert len(world.crm.live("Lead")) == 1
    assert any(deleted), "the incremental cycle settled nothing by deleting"
    with world.store.database.transaction() as tx:
        assert world.store.inbox.counts(tx, world.integration.id)["waiting"] == 0


def test_a_first_read_keeps_settled_rows_for_matching(make_world):
    from crmsync.models import SourceOfTruth

    world = make_world(create_in_crm=CREATE_ALL)
    world.linked_pair(first_name="Bo", email="bo@x.io")
    # A rebaseline makes the next cycle read both feeds in full; the linked pair settles
    # in the first chunk, the lead's row with it. A second prospect with the same email
    # comes in a chunk of its own.
    world.store.config.rebaseline(world.integration.name, SourceOfTruth.BOTH)
    world.clock.advance()
    world.prospect({"email": "BO@x.io", "last_name": "Bo again"})
    world.clock.advance()
    deleted: list[list[int]] = []

    report = engine(world, deleted, chunk_size=1).run_cycle()

    # Both feeds are read in full: no lookup, so the lead's settled row is what tells
    # the second prospect that its match is taken.
    assert report.linked == 0 and report.crm.created == 0, report.counts()
    assert len(world.crm.live("Lead")) == 1
    assert not any(deleted)
