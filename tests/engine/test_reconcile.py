"""Links to records deleted and purged where the feed could not see it (issue 21).

A feed that says it may have lost deletions (``ChangePage.deletions_unknown_before``)
has the engine ask ``missing_records`` about that side's links, in batches; each id
answered is a deletion, settled exactly as a tombstone read from the feed.
"""

from __future__ import annotations

from crmsync.contract import hookimpl
from crmsync.testing.memory import MemoryConnector


def _linked(world, count):
    """``count`` prospects linked to leads, one cycle each; their lead ids."""
    leads = []
    for index in range(count):
        _, lead = world.linked_pair(email=f"p{index}@example.com", first_name="A")
        leads.append(lead)
    return leads


def _events(world):
    """The integration's events by kind (the latest of each)."""
    events = world.store.history.list_events(world.integration.id)
    return {event.kind: event.detail for event in reversed(events)}


def _linked_leads(world):
    with world.store.database.transaction() as tx:
        return world.store.links.linked_ids(
            tx, world.integration.id, "crm", "Lead", after="", limit=1000
        )


def test_a_purged_record_past_the_window_is_unlinked_and_the_rest_untouched(
    make_world,
):
    world = make_world()
    leads = _linked(world, 3)
    world.crm.purge("Lead", leads[1])
    world.clock.advance()

    report = world.cycle()

    assert report.unlinked == 1, report.counts()
    assert report.writes == 0 and report.errors == 0
    assert report.crm.deleted == 1
    assert sorted(_linked_leads(world)) == sorted([leads[0], leads[2]])
    assert report.api_calls["crm"]["missing_records"] == 1
    assert "missing_records" not in report.api_calls["platform"]
    kinds = _events(world)
    assert kinds["links_reconciled"]["checked"] == 3
    assert kinds["links_reconciled"]["missing"] == 1
    assert kinds["unlinked"]["record"] == leads[1]

    # One purge, one sweep: the next cycle reads from a cursor that has answered it.
    world.clock.advance()
    again = world.cycle()
    assert "missing_records" not in again.api_calls["crm"]
    assert again.unlinked == 0


def test_no_sweep_when_the_feed_saw_every_deletion(make_world):
    world = make_world()
    leads = _linked(world, 2)
    world.crm.delete("Lead", leads[0])  # in the feed as a tombstone
    world.clock.advance()

    report = world.cycle()

    assert report.unlinked == 1
    assert "missing_records" not in report.api_calls["crm"]
    assert world.crm.calls.get("missing_records", 0) == 0


class FailSecondBatch:
    """Records each batch asked and makes the second call fail once, in passing."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.batches: list[list[str]] = []

    @hookimpl(wrapper=True)
    def missing_records(self, record_ids):
        self.batches.append(list(record_ids))
        answer = yield
        if len(self.batches) == 1:
            self.backend.inject("transient", hook="missing_records")
        return answer


def test_the_sweep_goes_in_batches_and_a_fault_repeats_one_batch(make_world):
    world = make_world()
    leads = _linked(world, 5)
    world.crm.purge("Lead", leads[0])
    world.crm.purge("Lead", leads[3])
    world.clock.advance()
    spy = FailSecondBatch(world.crm)
    world.extra_plugins.append(spy)

    report = world.engine(chunk_size=2).run_cycle()

    assert report.status == "succeeded", report.message
    ordered = sorted(leads)
    assert spy.batches == [ordered[0:2], ordered[2:4], ordered[2:4], ordered[4:5]]
    assert len(world.sleeps) == 1  # the retried batch waited once
    assert report.api_calls["crm"]["missing_records"] == 4
    assert report.unlinked == 2
    assert sorted(_linked_leads(world)) == sorted([leads[1], leads[2], leads[4]])


class NoSweepConnector(MemoryConnector):
    """A connector whose feed says it lost deletions but that cannot be asked."""

    missing_records = None  # not a hook implementation: pluggy skips it


def test_a_connector_without_the_hook_gets_a_warning_not_a_crash(make_world):
    world = make_world()
    world.crm_connector = NoSweepConnector
    leads = _linked(world, 2)
    world.crm.purge("Lead", leads[0])
    world.clock.advance()

    report = world.cycle()

    assert report.status == "succeeded", report.message
    assert report.unlinked == 0
    assert sorted(_linked_leads(world)) == sorted(leads)
    kinds = _events(world)
    assert kinds["reconcile_unsupported"]["object"] == "Lead"
    assert kinds["reconcile_unsupported"]["side"] == "crm"
