"""Dry runs tell the truth and stop nothing.

* Exact: with no edits between them, a dry run and the real run after it report the
  same field writes, creates, updates, links, relinks, unlinks and errors, record by
  record.
* Harmless: a dry run calls no write hook, leaves both sides and the state store as
  they were, and a real cycle of the same integration run while it plans succeeds.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.contract import hookimpl
from crmsync.models import CreationMode, CreationRule

CREATE_ALL = CreationRule(mode=CreationMode.ALL)


def _plan(report):
    writes = Counter(
        (w.side, w.object_name, w.record_id, w.op, w.field, repr(w.new), w.rule)
        for w in report.planned
    )
    outcomes = Counter(
        (o.kind, o.object_name, o.record_id, o.other_object, o.detail)
        for o in report.outcomes
    )
    return writes, outcomes


class CountPushes:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl(wrapper=True)
    def push_updates(self, requests):
        self.calls += 1
        return (yield)


def _state(world):
    with world.store.database.engine.connect() as connection:
        tables = (
            "links",
            "link_counts",
            "cursors",
            "inbox",
            "pending_creates",
            "record_errors",
            "field_decisions",
        )
        return {
            table: sorted(
                map(tuple, connection.exec_driver_sql(f"SELECT * FROM {table}"))
            )
            for table in tables
        }


def assert_dry_run_tells_the_truth(world):
    """Dry, then real: the same plan; the dry run wrote nothing anywhere."""
    pushes = CountPushes()
    world.extra_plugins.append(pushes)
    crm_before = {name: dict(rows) for name, rows in world.crm.rows.items()}
    state_before = _state(world)
    dry = world.engine().run_cycle(dry_run=True)
    assert dry.status != "failed", dry.message
    assert pushes.calls == 0, "a dry run called push_updates"
    assert {name: dict(rows) for name, rows in world.crm.rows.items()} == crm_before
    assert _state(world) == state_before, "a dry run changed the state store"
    world.extra_plugins.remove(pushes)

    real = world.engine().run_cycle(record_plan=True)
    assert real.status != "failed", real.message
    assert _plan(dry) == _plan(real)
    assert dry.counts() | {"duration_seconds": 0, "api_calls": {}} == real.counts() | {
        "duration_seconds": 0,
        "api_calls": {},
    }
    return dry, real


def test_two_crm_records_of_one_person_link_once_in_the_dry_run_too(make_world, pairs):
    # Before: the dry run did not store the contact's link, so the lead linked too and
    # the dry run counted 2 links where the real run made 1.
    world = make_world(pairs=pairs("Contact", "Lead"))
    world.prospect({"email": "same@x.io", "last_name": "P"})
    world.lead({"Email": "same@x.io", "LastName": "C"}, object_name="Contact")
    world.lead({"Email": "same@x.io", "LastName": "L"})
    world.clock.advance(60)
    dry, real = assert_dry_run_tells_the_truth(world)
    assert dry.linked == real.linked == 1


def test_updates_and_creates_both_ways(make_world):
    world = make_world(create_in_crm=CREATE_ALL, create_in_platform=CREATE_ALL)
    pid, lid = world.linked_pair(first_name="Old", phone="1")
    world.prospect({"first_name": "New"}, record_id=pid)
    world.lead({"Phone": "2"}, record_id=lid)
    world.prospect({"email": "to-crm@x.io", "last_name": "ToCrm"})
    world.lead({"Email": "to-platform@x.io", "LastName": "ToPlatform", "Company": "C"})
    world.clock.advance(60)
    dry, _ = assert_dry_run_tells_the_truth(world)
    assert dry.crm.created == dry.platform.created == 1
    assert {o.kind for o in dry.outcomes} >= {"create", "update"}


def test_deletions_conversions_and_merges(make_world, pairs):
    world = make_world(pairs=pairs("Contact", "Lead"))
    deleted = world.linked_pair(email="gone@x.io")
    converted = world.linked_pair(email="conv@x.io")
    merged = world.linked_pair(email="merged@x.io")
    survivor = world.lead({"Email": "survivor@x.io", "LastName": "S", "Company": "C"})
    world.crm.delete("Lead", deleted[1])
    world.crm.convert(converted[1])
    world.crm.delete("Lead", merged[1], merged_into=survivor)
    world.clock.advance(60)
    dry, _ = assert_dry_run_tells_the_truth(world)
    kinds = Counter(o.kind for o in dry.outcomes)
    assert kinds["unlink"] >= 1 and kinds["relink"] >= 2


def test_a_link_reconciliation_is_planned_and_leaves_the_store_alone(make_world):
    """A purged record found by the id sweep (issue 21): the dry run asks the same
    question, plans the same unlink, and keeps nothing of it."""
    world = make_world()
    kept = world.linked_pair(email="kept@x.io")
    purged = world.linked_pair(email="purged@x.io")
    world.crm.purge("Lead", purged[1])
    world.clock.advance(60)
    dry, real = assert_dry_run_tells_the_truth(world)
    assert [(o.kind, o.record_id) for o in dry.outcomes] == [("unlink", purged[1])]
    assert dry.api_calls["crm"]["missing_records"] == 1
    assert real.api_calls["crm"]["missing_records"] == 1
    assert kept[1] in world.crm.live("Lead")


def test_errors_are_planned_record_by_record(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    # No email: no match key, so its create is refused before anything is sent.
    world.prospect({"last_name": "NoKey"})
    world.clock.advance(60)
    dry, _ = assert_dry_run_tells_the_truth(world)
    assert [o.kind for o in dry.outcomes] == ["error"]
    assert dry.plan()["outcomes"][0]["kind"] == "error"


@pytest.mark.postgres
def test_a_dry_run_on_postgresql_tells_the_truth(make_world, pairs, postgres_url):
    world = make_world(
        pairs=pairs("Contact", "Lead"), create_in_crm=CREATE_ALL, url=postgres_url
    )
    pid, _ = world.linked_pair(first_name="Old")
    world.prospect({"first_name": "New"}, record_id=pid)
    world.prospect({"email": "same@x.io", "last_name": "P"})
    world.lead({"Email": "same@x.io", "LastName": "C"}, object_name="Contact")
    world.lead({"Email": "same@x.io", "LastName": "L"})
    world.prospect({"email": "new@x.io", "last_name": "N"})
    world.clock.advance(60)
    assert_dry_run_tells_the_truth(world)


FIELDS = {"first_name": "FirstName", "last_name": "LastName", "phone": "Phone"}
edit = st.tuples(
    st.integers(0, 3),
    st.sampled_from(["platform", "crm", "new-platform", "new-crm"]),
    st.sampled_from(sorted(FIELDS)),
    st.sampled_from([None, "", "Ann", "Bob", "555-0100"]),
    st.integers(0, 90),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(edits=st.lists(edit, max_size=8))
def test_random_edit_scripts(make_world, edits):
    world = make_world(create_in_crm=CREATE_ALL, create_in_platform=CREATE_ALL)
    linked = [world.linked_pair(email=f"p{n}@x.io", first_name="I") for n in range(4)]
    for number, (record, side, field, value, pause) in enumerate(edits):
        world.clock.advance(pause)
        pid, lid = linked[record]
        if side == "platform":
            world.prospect({field: value}, record_id=pid)
        elif side == "crm":
            world.lead({FIELDS[field]: value}, record_id=lid)
        elif side == "new-platform":  # shares p<record>'s email half the time
            email = f"p{record}@x.io" if number % 2 else f"n{number}@x.io"
            # A last name always: a create the vendor refuses is the one thing a dry
            # run cannot know (it answers every write as a success).
            world.prospect({"email": email, field: value, "last_name": "New"})
        else:
            email = f"p{record}@x.io" if number % 2 else f"c{number}@x.io"
            world.lead({"Email": email, "LastName": "New", "Company": "C"})
    world.clock.advance(3600)
    assert_dry_run_tells_the_truth(world)


class RealCycleDuringTheDryRun:
    """A real cycle of the same integration, run inside the dry run's first read."""

    def __init__(self, world) -> None:
        self.world = world
        self.report = None

    @hookimpl(wrapper=True)
    def fetch_changed(self, object_name):
        if self.report is None:
            self.report = "running"
            self.world.extra_plugins.remove(self)
            self.report = self.world.engine().run_cycle()
        return (yield)


@pytest.mark.parametrize(
    "url_fixture", ["sqlite", pytest.param("postgres_url", marks=pytest.mark.postgres)]
)
def test_a_real_cycle_runs_while_a_dry_run_plans(make_world, request, url_fixture):
    url = None if url_fixture == "sqlite" else request.getfixturevalue(url_fixture)
    world = make_world(create_in_crm=CREATE_ALL, url=url)
    pid, lid = world.linked_pair(first_name="Old")
    world.prospect({"first_name": "New"}, record_id=pid)
    world.prospect({"email": "n@x.io", "last_name": "N"})
    world.clock.advance(60)
    meanwhile = RealCycleDuringTheDryRun(world)
    world.extra_plugins.append(meanwhile)
    dry = world.engine().run_cycle(dry_run=True)
    assert dry.status == "succeeded", dry.message
    assert meanwhile.report is not None and meanwhile.report.status == "succeeded", (
        meanwhile.report and meanwhile.report.message
    )
    assert meanwhile.report.crm.updated == 1 and meanwhile.report.crm.created == 1
    assert world.crm.get("Lead", lid)["FirstName"] == "New"
